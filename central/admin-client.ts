/**
 * A call to a running office's admin API (central/routes/admin.ts) with its admin token: what
 * the `central` command does, and what a development station's start does to issue the code
 * it enrols with (cli/local-central.ts). The token goes in the Authorization header only.
 */
export async function adminCall(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: { error?: { code?: string; message?: string } };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw new Error(
      `${method} ${path} at ${url}: HTTP ${res.status}, an answer that is not JSON (${JSON.stringify(text.slice(0, 80))})`,
    );
  }
  if (!res.ok)
    throw new Error(
      `${method} ${path} at ${url}: HTTP ${res.status} ${json.error?.code ?? ''}: ${json.error?.message ?? 'no error message'}`,
    );
  return json;
}

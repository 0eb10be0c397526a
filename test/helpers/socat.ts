import { createVirtualSerialPair, type VirtualSerialPair } from '../../simulator/virtual-port.ts';

const open = new Set<VirtualSerialPair>();

/**
 * A virtual null-modem pair (socat ptys in a temporary directory). Call closeAllSocatPairs() in
 * afterEach/afterAll, or close() the pair yourself.
 */
export async function createSocatPair(): Promise<VirtualSerialPair> {
  const pair = await createVirtualSerialPair();
  open.add(pair);
  const close = pair.close;
  pair.close = async () => {
    open.delete(pair);
    await close();
  };
  return pair;
}

export async function closeAllSocatPairs(): Promise<void> {
  await Promise.all([...open].map((p) => p.close()));
}

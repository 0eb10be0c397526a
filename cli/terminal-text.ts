/**
 * Text on its way to a terminal. Lines often carry text from files and devices (a
 * manufacturer's name, a batch's reason, a USB product string); a control character in it
 * would reach the terminal as a command (ESC [2J clears the screen, CSI U+009B does the same on
 * some terminals) and a bidi control would make the line read as something else (U+202E turns
 * "txt.exe" around). Every such character is written as a JSON-style escape instead: the line
 * stays readable, and a JSON line stays valid JSON with the same meaning.
 */

/** C0 controls but tab and line feed, DEL, C1 controls, bidi controls, line/paragraph separators. */
function unsafe(c: number): boolean {
  return (
    (c < 0x20 && c !== 0x09 && c !== 0x0a) ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x061c ||
    c === 0x200e ||
    c === 0x200f ||
    (c >= 0x2028 && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

/** `line` with every control and bidi character written as `\uXXXX`. */
export function safeForTerminal(line: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (!unsafe(c)) continue;
    out += line.slice(from, i) + `\\u${c.toString(16).padStart(4, '0')}`;
    from = i + 1;
  }
  return from === 0 ? line : out + line.slice(from);
}

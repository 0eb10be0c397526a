import { execFileSync } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { createSoftHsmToken } from './softhsm.ts';

const token = createSoftHsmToken('helper-check');
afterAll(() => token.cleanup());

it('creates a real SoftHSM2 token that the tools can see', () => {
  const slots = execFileSync('softhsm2-util', ['--show-slots'], {
    env: { ...process.env, SOFTHSM2_CONF: token.conf },
    encoding: 'utf8',
  });
  expect(slots).toContain('helper-check');
});

import { describe, expect, it } from 'vitest';
import { CATALOGS, STATION_LANGUAGES, refusalMessage } from './messages.ts';
import { REFUSAL_REASONS } from './reasons.ts';

describe('refusal messages', () => {
  it('has a reason and an instruction for every refusal in every station language', () => {
    for (const lang of STATION_LANGUAGES) {
      for (const reason of REFUSAL_REASONS) {
        const m = refusalMessage(reason, lang, {
          printedSerial: 'PA0001',
          chipSerial: 'C1',
          claimedAgency: 'PER-RREE',
          state: 'issued',
          chipProfile: 'X',
          keyVersion: 2,
        });
        expect(m.reason.length, `${lang} ${reason}`).toBeGreaterThan(10);
        expect(m.instruction.length, `${lang} ${reason}`).toBeGreaterThan(10);
        expect(m.reason).not.toContain('{{');
        expect(m.reason).not.toContain(reason);
      }
    }
    expect(Object.keys(CATALOGS.es).sort()).toEqual([...REFUSAL_REASONS].sort());
  });

  it('tells the operator in Spanish and English that a foreign booklet must be put aside', () => {
    expect(refusalMessage('FOREIGN_AGENCY', 'en', { claimedAgency: 'PER-RREE' })).toEqual({
      reason: 'This booklet belongs to another agency (PER-RREE).',
      instruction: 'Put it aside for your supervisor. It must not be used here.',
    });
    expect(refusalMessage('FOREIGN_AGENCY', 'es', { claimedAgency: 'PER-RREE' }).reason).toBe(
      'Esta libreta pertenece a otra entidad (PER-RREE).',
    );
  });
});

import { expect } from 'chai';
import {
  ACR, LEVEL, MULTI_FACTOR_ALIAS, PASSWORD_METHOD, acrForLevel, acrFromFactors, amrFor, createAcrPolicy, levelOf,
  requiredLevel, satisfies, type CompletedMethod,
} from '../../src/policy/acr.ts';

const appCode: CompletedMethod = { level: 3, amr: ['otp'] };
const recoveryCode: CompletedMethod = { level: 3, amr: ['otp'] };
const emailCode: CompletedMethod = { level: 2, amr: ['otp'] };

describe('acr levels and amr values', () => {
  it('maps the three default ACR values to levels 1, 2 and 3', () => {
    expect([levelOf(ACR.pwd), levelOf(ACR.mfa), levelOf(ACR.mfaApp)]).to.deep.equal([1, 2, 3]);
  });

  it('treats the PAPE multi-factor URI as an alias of level 2', () => {
    expect(levelOf(MULTI_FACTOR_ALIAS)).to.equal(2);
    expect(requiredLevel([MULTI_FACTOR_ALIAS])).to.equal(2);
  });

  it('ignores unknown values: they have no level and do not raise a request', () => {
    expect(levelOf('urn:other:gold')).to.equal(undefined);
    expect(levelOf(undefined)).to.equal(undefined);
    expect(requiredLevel(['urn:other:gold'])).to.equal(0);
    expect(requiredLevel(['urn:other:gold', ACR.mfa])).to.equal(2);
    expect(satisfies(ACR.pwd, ['urn:other:gold'])).to.equal(true);
  });

  it('asks for the strongest known level among several requested values', () => {
    expect(requiredLevel([ACR.pwd, ACR.mfaApp, ACR.mfa])).to.equal(3);
    expect(requiredLevel([])).to.equal(0);
  });

  it('lets a stronger session satisfy a weaker request and never the reverse', () => {
    expect(satisfies(ACR.mfaApp, [ACR.mfa])).to.equal(true);
    expect(satisfies(ACR.mfaApp, [MULTI_FACTOR_ALIAS])).to.equal(true);
    expect(satisfies(ACR.mfa, [ACR.pwd])).to.equal(true);
    expect(satisfies(ACR.mfa, [ACR.mfa])).to.equal(true);
    expect(satisfies(ACR.pwd, [ACR.mfa])).to.equal(false);
    expect(satisfies(ACR.mfa, [ACR.mfaApp])).to.equal(false);
    expect(satisfies(undefined, [ACR.pwd])).to.equal(false);
    expect(satisfies('urn:other:gold', [MULTI_FACTOR_ALIAS])).to.equal(false);
  });

  it('answers the strongest requested value the level satisfies, the first named among equals, else the level reached', () => {
    const policy = createAcrPolicy();
    expect(policy.answer(LEVEL.mfaApp, [ACR.mfa])).to.equal(ACR.mfa);
    expect(policy.answer(LEVEL.mfaApp, [ACR.pwd, ACR.mfa])).to.equal(ACR.mfa);
    expect(policy.answer(LEVEL.mfaApp, [ACR.mfaApp, ACR.mfa])).to.equal(ACR.mfaApp);
    expect(policy.answer(LEVEL.mfa, [ACR.mfaApp, ACR.mfa])).to.equal(ACR.mfa);
    expect(policy.answer(LEVEL.mfa, [MULTI_FACTOR_ALIAS, ACR.mfa])).to.equal(MULTI_FACTOR_ALIAS);
    expect(policy.answer(LEVEL.mfa, [ACR.mfa, MULTI_FACTOR_ALIAS])).to.equal(ACR.mfa);
    expect(policy.answer(LEVEL.pwd, [ACR.mfa])).to.equal(ACR.pwd);
    expect(policy.answer(LEVEL.mfaApp, ['urn:example:unknown'])).to.equal(ACR.mfaApp);
    expect(policy.answer(LEVEL.mfaApp, [])).to.equal(ACR.mfaApp);
    expect(policy.answer(LEVEL.none, [ACR.pwd])).to.equal(undefined);
  });

  it('gives the canonical value of each level and refuses other numbers', () => {
    expect([1, 2, 3].map((level) => acrForLevel(level))).to.deep.equal([ACR.pwd, ACR.mfa, ACR.mfaApp]);
    expect(() => acrForLevel(0)).to.throw(RangeError);
    expect(() => acrForLevel(4)).to.throw(RangeError);
  });

  it('derives the session level from the completed methods', () => {
    expect(acrFromFactors([PASSWORD_METHOD])).to.equal(ACR.pwd);
    expect(acrFromFactors([PASSWORD_METHOD, appCode])).to.equal(ACR.mfaApp);
    expect(acrFromFactors([PASSWORD_METHOD, recoveryCode])).to.equal(ACR.mfaApp);
    expect(acrFromFactors([PASSWORD_METHOD, emailCode])).to.equal(ACR.mfa);
    expect(acrFromFactors([PASSWORD_METHOD, emailCode, appCode])).to.equal(ACR.mfaApp);
    expect(acrFromFactors([])).to.equal(undefined);
  });

  it('does not count a second factor without a password as multi-factor', () => {
    expect(acrFromFactors([appCode])).to.equal(ACR.pwd);
    expect(acrFromFactors([appCode, recoveryCode])).to.equal(ACR.pwd);
  });

  it('reports amr per RFC 8176: pwd alone, and pwd + otp + mfa with a second factor', () => {
    expect(amrFor([PASSWORD_METHOD])).to.deep.equal(['pwd']);
    expect(amrFor([PASSWORD_METHOD, appCode])).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(amrFor([PASSWORD_METHOD, recoveryCode])).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(amrFor([PASSWORD_METHOD, appCode, recoveryCode])).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(amrFor([appCode])).to.deep.equal(['otp']);
  });

  it('accepts overridden ACR values and aliases from config', () => {
    const policy = createAcrPolicy({ pwd: 'silver', mfa: 'gold', mfaApp: 'platinum', aliases: { 'urn:x:strong': 3 } });
    expect(policy.values).to.deep.equal(['silver', 'gold', 'platinum']);
    expect(policy.levelOf('gold')).to.equal(LEVEL.mfa);
    expect(policy.levelOf(ACR.mfa)).to.equal(undefined);
    expect(policy.levelOf(MULTI_FACTOR_ALIAS)).to.equal(undefined);
    expect(policy.satisfies('platinum', ['urn:x:strong'])).to.equal(true);
    expect(policy.acrFromFactors([PASSWORD_METHOD, emailCode])).to.equal('gold');
  });

  it('refuses a config that reuses a value or gives an alias a level out of range', () => {
    expect(() => createAcrPolicy({ pwd: 'same', mfa: 'same' })).to.throw(/used twice/);
    expect(() => createAcrPolicy({ aliases: { 'urn:x': 7 } })).to.throw(/level 7/);
  });
});

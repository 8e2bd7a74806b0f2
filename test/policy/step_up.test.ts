import { expect } from 'chai';
import { ACR, MULTI_FACTOR_ALIAS } from '../../src/policy/acr.ts';
import { decideStepUp, grantableStepUpScopes, type StepUpInput } from '../../src/policy/step_up.ts';

const NOW = new Date('2026-01-01T12:00:00Z');
const minutesAgo = (minutes: number): Date => new Date(NOW.getTime() - minutes * 60_000);

function input(overrides: Partial<StepUpInput> = {}): StepUpInput {
  return { sessionLevel: 1, secondFactorAt: {}, scopes: ['openid'], privileges: [], enrolledLevels: [3], now: NOW, ...overrides };
}

describe('step-up decision', function () {
  it('a password session with a plain request needs nothing', function () {
    expect(decideStepUp(input())).to.deep.equal({ required: false });
  });

  it('acr_values asking level 2 on a password session requires level 2', function () {
    expect(decideStepUp(input({ acrValues: [ACR.mfa] }))).to.deep.include({ required: true, level: 2, reason: 'acr_values', enrol: false });
  });

  it('the PAPE multi-factor URI is level 2; unknown values are ignored', function () {
    expect(decideStepUp(input({ acrValues: [MULTI_FACTOR_ALIAS, 'urn:unknown'] }))).to.deep.include({ required: true, level: 2 });
    expect(decideStepUp(input({ acrValues: ['urn:unknown'] }))).to.deep.equal({ required: false });
  });

  it('an essential acr naming only unknown values is unmet: no value of it can be answered (OIDC Core 5.5.1.1)', function () {
    expect(decideStepUp(input({ essentialAcr: ['urn:unknown'] }))).to.deep.equal({ unmet: true, level: 0, reason: 'acr_values' });
    expect(decideStepUp(input({ essentialAcr: ['urn:unknown', ACR.pwd] }))).to.deep.equal({ required: false });
    expect(decideStepUp(input({ acrValues: ['urn:unknown'] }))).to.deep.equal({ required: false });
  });

  it('a stronger session satisfies a weaker request', function () {
    expect(decideStepUp(input({ sessionLevel: 3, acrValues: [ACR.mfa] }))).to.deep.equal({ required: false });
    expect(decideStepUp(input({ sessionLevel: 2, essentialAcr: [ACR.pwd] }))).to.deep.equal({ required: false });
  });

  it('an essential acr and the client default_acr_values count; the defaults are a floor that request values only raise', function () {
    expect(decideStepUp(input({ essentialAcr: [ACR.mfaApp] }))).to.deep.include({ required: true, level: 3 });
    expect(decideStepUp(input({ defaultAcrValues: [ACR.mfa] }))).to.deep.include({ required: true, level: 2 });
    expect(decideStepUp(input({ defaultAcrValues: [ACR.mfa], acrValues: [ACR.pwd] }))).to.deep.include({ required: true, level: 2 });
    expect(decideStepUp(input({ defaultAcrValues: [ACR.mfa], essentialAcr: [ACR.pwd] }))).to.deep.include({ required: true, level: 2 });
    expect(decideStepUp(input({ defaultAcrValues: [ACR.mfa], acrValues: [ACR.mfaApp] }))).to.deep.include({ required: true, level: 3 });
  });

  it('acr_values above what the account can prove, with no factor, is unmet (no enrolment for acr alone)', function () {
    expect(decideStepUp(input({ acrValues: [ACR.mfa], enrolledLevels: [] }))).to.deep.include({ unmet: true });
  });

  it('invoice for a privileged account needs level 2 and a second factor of at most 15 minutes', function () {
    const privileged = { scopes: ['openid', 'invoice'], privileges: ['invoice'] };
    expect(decideStepUp(input(privileged))).to.deep.include({ required: true, level: 2, maxAgeSeconds: 900, reason: 'step_up_scope' });
    expect(decideStepUp(input({ ...privileged, sessionLevel: 3, secondFactorAt: { 3: minutesAgo(5) } }))).to.deep.equal({ required: false });
    expect(decideStepUp(input({ ...privileged, sessionLevel: 3, secondFactorAt: { 3: minutesAgo(16) } }))).to.deep.include({ required: true, reason: 'step_up_scope' });
    expect(grantableStepUpScopes(input({ ...privileged, sessionLevel: 2, secondFactorAt: { 2: minutesAgo(1) } }))).to.deep.equal(['invoice']);
  });

  it('invoice without the privilege: no prompt and the scope is not grantable', function () {
    const request = input({ scopes: ['openid', 'invoice'], sessionLevel: 3, secondFactorAt: { 3: minutesAgo(1) } });
    expect(decideStepUp({ ...request, sessionLevel: 1, secondFactorAt: {} })).to.deep.equal({ required: false });
    expect(grantableStepUpScopes(request)).to.deep.equal([]);
  });

  it('a privileged account without a factor asking invoice must enrol', function () {
    expect(decideStepUp(input({ scopes: ['invoice'], privileges: ['invoice'], enrolledLevels: [] }))).to.deep.include({ required: true, enrol: true });
  });

  it('a forced company requires level 2 at every password login, and enrolment when nothing is enrolled', function () {
    expect(decideStepUp(input({ companyPolicy: 'forced' }))).to.deep.include({ required: true, level: 2, reason: 'company_policy', enrol: false });
    expect(decideStepUp(input({ companyPolicy: 'forced', enrolledLevels: [] }))).to.deep.include({ required: true, enrol: true });
    expect(decideStepUp(input({ companyPolicy: 'forced', sessionLevel: 2 }))).to.deep.equal({ required: false });
    expect(decideStepUp(input({ companyPolicy: 'opt_in' }))).to.deep.equal({ required: false });
  });

  it('"ask at every sign-in" requires level 2; with no factor left (a reset) the customer sets up a new one, never a dead end', function () {
    expect(decideStepUp(input({ askEverySignIn: true }))).to.deep.include({ required: true, reason: 'every_sign_in', enrol: false });
    expect(decideStepUp(input({ askEverySignIn: true, enrolledLevels: [] }))).to.deep.include({ required: true, level: 2, enrol: true });
  });

  it('after a password reset a factor beyond the mailbox is due once: asked whatever the session proved, never an enrolment', function () {
    const due = { secondFactorDue: true, beyondMailboxLevels: [3] };
    expect(decideStepUp(input(due))).to.deep.include({ required: true, level: 2, reason: 'password_reset', enrol: false });
    expect(decideStepUp(input({ ...due, sessionLevel: 2, secondFactorAt: { 2: NOW } })), 'a mailed code proved level 2: still due').to.deep.include({ reason: 'password_reset' });
    expect(decideStepUp(input({ ...due, sessionLevel: 3, secondFactorAt: { 3: NOW }, beyondMailboxProven: true }))).to.deep.equal({ required: false });
    expect(decideStepUp(input({ secondFactorDue: true, beyondMailboxLevels: [] })), 'email codes only: nothing beyond the mailbox to ask').to.deep.equal({ required: false });
    expect(decideStepUp(input({ secondFactorDue: true, enrolledLevels: [], beyondMailboxLevels: [] })), 'no factor left').to.deep.equal({ required: false });
  });

  it('first match wins: acr values before the step-up scope', function () {
    const decision = decideStepUp(input({ acrValues: [ACR.mfaApp], scopes: ['invoice'], privileges: ['invoice'] }));
    expect(decision).to.deep.include({ required: true, level: 3, reason: 'acr_values' });
  });

  it('an email-level factor cannot meet a level-3 request: the email code is proven first, then an app may be added', function () {
    expect(decideStepUp(input({ acrValues: [ACR.mfaApp], enrolledLevels: [2] }))).to.deep.include({ required: true, level: 2, enrol: false });
    const proven = input({ acrValues: [ACR.mfaApp], enrolledLevels: [2], sessionLevel: 2, secondFactorAt: { 2: NOW } });
    expect(decideStepUp(proven)).to.deep.include({ required: true, level: 3, enrol: true });
    const stale = input({ acrValues: [ACR.mfaApp], enrolledLevels: [2], sessionLevel: 2, secondFactorAt: { 2: new Date(NOW.getTime() - 6 * 60_000) } });
    expect(decideStepUp(stale), 'a proof older than 5 minutes is asked again before an enrolment').to.deep.include({ required: true, level: 2, enrol: false });
  });

  it('without any factor, acr values alone never make a customer enrol', function () {
    expect(decideStepUp(input({ acrValues: [ACR.mfa], enrolledLevels: [] }))).to.deep.include({ unmet: true });
  });
});

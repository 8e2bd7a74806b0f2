/**
 * Telling the members of a company that it now requires two-factor authentication (the `forced` policy): every other
 * active member is mailed, through the security notification so their own events list it — at most once a day per
 * company, member and policy state however often the admin toggles (`policy_notices`, claimed by one conditional
 * upsert); a notice not sent is audited on the member's account (`company_policy_notice_skipped`).
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { listAccounts, type Account } from '../accounts/accounts.ts';
import type { Company, MfaPolicy } from '../accounts/companies.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { SecurityEvents } from '../security/events.ts';
import { isDuplicateKeyError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

/** What the notices need. */
export interface PolicyNoticeDeps {
  readonly conn: Connection;
  readonly factors: FactorRegistry;
  readonly events: SecurityEvents;
  readonly logger: Logger;
}

/** How many policy notices are sent at once: a large company must not open a burst of SMTP connections. */
const POLICY_NOTICE_CONCURRENCY = 4;

/** How long a member told of a policy state is not told of that state again: a day (an admin toggling mails no one twice). */
export const POLICY_NOTICE_INTERVAL_MS = 24 * 60 * 60_000;

/** One notice a member got: `_id` is `${companyId}:${accountId}:${state}`, so there is one per company, member and state. */
interface PolicyNoticeDoc {
  _id: string;
  companyId: string;
  accountId: string;
  state: MfaPolicy;
  noticedAt: Date;
  /** Until when no other notice of `state` goes to the member; the TTL index then deletes the document. */
  expiresAt: Date;
}

const policyNoticeSchema = new Schema<PolicyNoticeDoc>(
  {
    _id: { type: String, required: true },
    companyId: { type: String, required: true },
    accountId: { type: String, required: true },
    state: { type: String, required: true },
    noticedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, collection: 'policy_notices' },
);
policyNoticeSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });

function policyNoticeModel(conn: Connection): Model<PolicyNoticeDoc> {
  return (conn.models.PolicyNotice as Model<PolicyNoticeDoc> | undefined)
    ?? conn.model<PolicyNoticeDoc>('PolicyNotice', policyNoticeSchema, 'policy_notices');
}

/** Creates the indexes of `policy_notices` (TTL on `expiresAt`); idempotent, once per connection. Call it at start-up. */
export const ensurePolicyNoticeIndexes = oncePerConnection((conn) => policyNoticeModel(conn).createIndexes());

/**
 * Claims the notice of `state` to one member: `true` at most once per {@link POLICY_NOTICE_INTERVAL_MS} for a company,
 * member and state. One conditional upsert, so two switches in flight cannot both claim it: a notice still running
 * does not match the filter, the upsert then inserts its `_id` again and collides (E11000). An expired notice the
 * TTL index has not deleted yet matches and is renewed.
 */
async function claimPolicyNotice(
  conn: Connection, notice: { companyId: string; accountId: string; state: MfaPolicy }, now: Date,
): Promise<{ claimed: true; release(): Promise<void> } | { claimed: false }> {
  await ensurePolicyNoticeIndexes(conn);
  const model = policyNoticeModel(conn);
  const _id = `${notice.companyId}:${notice.accountId}:${notice.state}`;
  try {
    await model.updateOne(
      { _id, expiresAt: { $lte: now } },
      {
        $set: { noticedAt: now, expiresAt: new Date(now.getTime() + POLICY_NOTICE_INTERVAL_MS) },
        $setOnInsert: { companyId: notice.companyId, accountId: notice.accountId, state: notice.state },
      },
      { upsert: true },
    );
  } catch (err) {
    if (isDuplicateKeyError(err)) return { claimed: false };
    throw err;
  }
  // a notice that could not be delivered gives its place back: the next switch may try again
  return { claimed: true, release: async () => { await model.deleteOne({ _id, noticedAt: now }); } };
}

/**
 * Tells every other active member that the company now requires two-factor authentication (the `forced` policy:
 * they are asked to set it up at their next sign-in), each as a security event of their own account, so their
 * security events list it — but a member already told of the forced policy within a day is not mailed again
 * ({@link claimPolicyNotice}), the notice is audited as skipped instead. Best effort: the policy is already saved,
 * a failed mail is recorded there, nothing here throws. The admin's IP and device are left out: they are the
 * admin's, not a fact about the member's account.
 */
export async function noticeForcedPolicy(deps: PolicyNoticeDeps, company: Company, admin: Account): Promise<void> {
  const { conn, factors, events, logger } = deps;
  // Events of the members' accounts: the admin's IP and device are not facts about them.
  const byAdmin = { actor: { type: 'admin' as const, id: admin.id } };
  try {
    const members = (await listAccounts(conn, { companyId: company.id }))
      .filter((member) => member.id !== admin.id && member.status === 'active');
    let next = 0;
    let mailed = 0;
    let skipped = 0;
    const worker = async (): Promise<void> => {
      for (let member = members[next++]; member; member = members[next++]) {
        const claim = await claimPolicyNotice(conn, { companyId: company.id, accountId: member.id, state: 'forced' }, new Date(Date.now()))
          .catch((err: unknown) => {
            // without the claim a mail could be a repeat: none is sent
            logger.error({ err, accountId: member.id, companyId: company.id }, 'policy notice could not be claimed');
            return undefined;
          });
        if (!claim) continue;
        if (!claim.claimed) {
          skipped += 1;
          await events.record(byAdmin, {
            kind: 'company_policy_notice_skipped', account: member,
            details: { companyId: company.id, company: company.name, state: 'forced', reason: 'already_notified' },
          });
          continue;
        }
        const enrolled = await factors.hasPrimaryFactor(member.id).catch(() => false);
        const result = await events.record(byAdmin, {
          kind: 'company_policy_forced', account: member, details: { company: company.name, enrolled }, auditDetails: { companyId: company.id },
        });
        if (result.mailed) {
          mailed += 1;
        } else {
          await claim.release()
            .catch((err: unknown) => logger.error({ err, accountId: member.id, companyId: company.id }, 'policy notice could not be released'));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(POLICY_NOTICE_CONCURRENCY, members.length) }, worker));
    logger.info(
      { event: 'account.company_policy_noticed', companyId: company.id, members: members.length, mailed, skipped },
      'members told of the forced policy',
    );
  } catch (err) {
    logger.error({ err, accountId: admin.id, companyId: company.id }, 'members could not be told of the forced policy');
  }
}

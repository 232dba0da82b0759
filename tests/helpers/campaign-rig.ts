import { createCampaignWorker, CampaignWorker } from '../../src/campaigns/launcher';
import type { Logger } from '../../src/logger';
import { as, Owner } from '../lists/fixtures';
import { RelayRig, startRelayRig } from './rig';
import { waitFor } from './sink';

/** A relay rig (sink, harness, delivery worker, sender with an Enabled domain) with a campaign worker beside it. */
export interface CampaignRig {
  h: RelayRig['h'];
  s: RelayRig['s'];
  sink: RelayRig['sink'];
  /** The sender as a list and campaign owner (its session). */
  o: Owner;
  /** The campaign worker. A test may put a new one in its place (the successor of one it stopped); the rig stops the one in place. */
  campaigns: CampaignWorker;
  /** Runs a legacy command as `o` and answers the reply body. */
  cmd(command: string, params?: Record<string, unknown>): Promise<any>;
}

/**
 * The campaign tests' setup, made in the file's beforeAll and stopped in its afterAll (campaign worker first, then the
 * relay rig in its own order). The fields are filled once beforeAll has run: read them inside tests and hooks.
 * `opts.logger` stands in for the harness's own (errors only, printed when a test fails).
 */
export function useCampaignRig(env: Record<string, string> = {}, opts: { logger?: Logger } = {}): CampaignRig {
  let rig: RelayRig;
  const camp = {
    cmd: (command: string, params: Record<string, unknown> = {}) => as(camp.h, camp.o)(command, params),
  } as CampaignRig;
  beforeAll(async () => {
    // Progress counted afresh on every read: on a loaded machine a count over the default 50 ms is reused, and a
    // test reading right after its last copy settled could see the count from before (tests/campaigns/progress
    // covers the reuse with its own value).
    rig = await startRelayRig({ CAMPAIGN_PROGRESS_LIVE_MS: '60000', ...env }, { logger: opts.logger });
    Object.assign(camp, {
      h: rig.h,
      s: rig.s,
      sink: rig.sink,
      o: { userId: rig.s.userId, sessionId: rig.s.sessionId },
      campaigns: createCampaignWorker(rig.h.services),
    });
  });
  afterAll(async () => {
    await camp.campaigns?.stop();
    await rig?.close();
  });
  return camp;
}

type Cmd = (command: string, params?: Record<string, unknown>) => Promise<any>;

/**
 * Waits for a campaign to reach `status`. A reply without a Campaign (an error envelope) is printed and polled again,
 * so a transient refusal under load shows what it was instead of failing as a TypeError.
 */
export async function waitForCampaign(cmd: Cmd, campaignId: number, status: string, ms: number, what: string, everyMs?: number): Promise<void> {
  await waitFor(
    async () => {
      const r = await cmd('campaign.get', { CampaignID: campaignId });
      if (!r?.Campaign) console.warn(`campaign.get ${campaignId} answered without a Campaign: ${JSON.stringify(r).slice(0, 500)}`);
      return r?.Campaign?.Status === status;
    },
    ms,
    what,
    everyMs,
  );
}

/**
 * Likely machine hits. Opens and clicks are not dropped for looking like machines (only repeats past a delivery's
 * budget are, src/tracking/routes.ts): the event says what it looks like, and readers
 * (stats, webhooks, customers) decide. `proxy` names a mail provider's image proxy (a real open, fetched on
 * the reader's behalf); `machine` marks scanners, link checkers, prefetchers and hits too soon after delivery.
 */
export interface HitVerdict {
  machine: boolean;
  reason: 'user_agent' | 'too_soon' | 'privacy_proxy' | 'no_user_agent' | null;
  proxy: 'gmail' | 'yahoo' | 'apple' | null;
}

// Security gateways and link scanners that fetch every link or image of incoming mail, bots and HTTP libraries.
const SCANNERS =
  /barracuda|mimecast|proofpoint|ppops|symantec|messagelabs|ironport|trend ?micro|forcepoint|fortiguard|sophos|cisco|safelinks|microsoft exchange|bot\b|bot\/|crawler|spider|slurp|scanner|facebookexternalhit|whatsapp|preview|curl\/|wget\/|python|go-http-client|java\/|libwww|httpclient|okhttp|axios|node-fetch|undici|headlesschrome|phantomjs/i;

export function judgeHit(userAgent: string, deliveredAt: number | null, now: number, soonSeconds: number): HitVerdict {
  const ua = userAgent.trim();
  if (/GoogleImageProxy/i.test(ua)) return { machine: false, reason: null, proxy: 'gmail' };
  if (/YahooMailProxy/i.test(ua)) return { machine: false, reason: null, proxy: 'yahoo' };
  // Apple Mail Privacy Protection fetches remote content ahead of reading, with a bare "Mozilla/5.0".
  if (ua === 'Mozilla/5.0') return { machine: true, reason: 'privacy_proxy', proxy: 'apple' };
  if (!ua) return { machine: true, reason: 'no_user_agent', proxy: null };
  if (SCANNERS.test(ua)) return { machine: true, reason: 'user_agent', proxy: null };
  if (deliveredAt !== null && now - deliveredAt < soonSeconds * 1000) return { machine: true, reason: 'too_soon', proxy: null };
  return { machine: false, reason: null, proxy: null };
}

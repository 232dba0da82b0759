import type { Knex } from 'knex';
import * as createAccounts from './20261123000100_create_accounts';
import * as createSenderDomains from './20261123000200_create_sender_domains';
import * as createMessages from './20261123000300_create_messages';
import * as createInbound from './20261123000400_create_inbound_messages';
import * as createLists from './20261123000500_create_lists';
import * as createTracking from './20261123000600_create_tracking';
import * as eventIndexes from './20261123000650_event_indexes';
import * as createWebhooks from './20261123000700_create_webhooks';
import * as createRollups from './20261123000800_create_rollups';
import * as idempotencyLease from './20261201000100_idempotency_lease';
import * as accountKeys from './20261204000100_account_keys';
import * as userPlans from './20261204000200_user_plans';
import * as webhookFormats from './20261204000300_webhook_formats';
import * as createListWebhooks from './20261205000100_create_list_webhooks';
import * as createCampaigns from './20261205000200_create_campaigns';
import * as scopedSuppressions from './20261205000300_create_scoped_suppressions';
import * as messageLogIndexes from './20261206000100_message_log_indexes';
import * as dnsWatchDkimRotation from './20261208000100_dns_watch_dkim_rotation';
import * as createCaptured from './20261210000100_create_captured_messages';
import * as queueHold from './20261211000100_queue_hold';
import * as messageContent from './20261215000100_message_content';
import * as pendingBatches from './20261216000100_create_pending_batches';
import * as sessionApiKey from './20261217000100_session_api_key';
import * as mtaStsPolicies from './20261218000100_create_mta_sts_policies';
import * as messageRetentionIndex from './20261219000100_message_retention_index';
import * as messageCampaignIndex from './20261220000100_message_campaign_index';
import * as signingKeyGrace from './20261221000100_signing_key_grace';
import * as reputationGuard from './20261222000100_reputation_guard';
import * as suspensionHold from './20261223000100_suspension_hold';
import * as campaignSkipped from './20261224000100_campaign_skipped';
import * as retainedSuppressions from './20261225000100_retained_suppressions';
import * as heldExpiryIndex from './20261226000100_held_expiry_index';
import * as retainedReputationHours from './20261227000100_retained_reputation_hours';
import * as reputationBase from './20261228000100_reputation_base';
import * as retainedSuppressionsByTime from './20261229000100_retained_suppressions_by_time';
import * as webhookDueIndex from './20261230000100_webhook_due_index';
import * as queueListIndex from './20261231000100_queue_list_index';
import * as subscriberOrderIndexes from './20270101000100_subscriber_order_indexes';
import * as senderDomainIpPool from './20270102000100_sender_domain_ip_pool';
import * as deletionMarks from './20270103000100_deletion_marks';
import * as queueWalkIndexes from './20270103000200_queue_walk_indexes';
import * as messageListSend from './20270104000100_message_list_send';
import * as createQuotaRefunds from './20270105000100_create_quota_refunds';
import * as fixedWidthLease from './20270106000100_fixed_width_lease';
import * as quotaRefundTokens from './20270107000100_quota_refund_tokens';
import * as leaseIndex from './20270108000100_lease_index';

/** Every migration in order. Listed here (not globbed) so ts-jest and compiled builds load the same set. */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261123000100_create_accounts': createAccounts,
  '20261123000200_create_sender_domains': createSenderDomains,
  '20261123000300_create_messages': createMessages,
  '20261123000400_create_inbound_messages': createInbound,
  '20261123000500_create_lists': createLists,
  '20261123000600_create_tracking': createTracking,
  '20261123000650_event_indexes': eventIndexes,
  '20261123000700_create_webhooks': createWebhooks,
  '20261123000800_create_rollups': createRollups,
  '20261201000100_idempotency_lease': idempotencyLease,
  '20261204000100_account_keys': accountKeys,
  '20261204000200_user_plans': userPlans,
  '20261204000300_webhook_formats': webhookFormats,
  '20261205000100_create_list_webhooks': createListWebhooks,
  '20261205000200_create_campaigns': createCampaigns,
  '20261205000300_create_scoped_suppressions': scopedSuppressions,
  '20261206000100_message_log_indexes': messageLogIndexes,
  '20261208000100_dns_watch_dkim_rotation': dnsWatchDkimRotation,
  '20261210000100_create_captured_messages': createCaptured,
  '20261211000100_queue_hold': queueHold,
  '20261215000100_message_content': messageContent,
  '20261216000100_create_pending_batches': pendingBatches,
  '20261217000100_session_api_key': sessionApiKey,
  '20261218000100_create_mta_sts_policies': mtaStsPolicies,
  '20261219000100_message_retention_index': messageRetentionIndex,
  '20261220000100_message_campaign_index': messageCampaignIndex,
  '20261221000100_signing_key_grace': signingKeyGrace,
  '20261222000100_reputation_guard': reputationGuard,
  '20261223000100_suspension_hold': suspensionHold,
  '20261224000100_campaign_skipped': campaignSkipped,
  '20261225000100_retained_suppressions': retainedSuppressions,
  '20261226000100_held_expiry_index': heldExpiryIndex,
  '20261227000100_retained_reputation_hours': retainedReputationHours,
  '20261228000100_reputation_base': reputationBase,
  '20261229000100_retained_suppressions_by_time': retainedSuppressionsByTime,
  '20261230000100_webhook_due_index': webhookDueIndex,
  '20261231000100_queue_list_index': queueListIndex,
  '20270101000100_subscriber_order_indexes': subscriberOrderIndexes,
  '20270102000100_sender_domain_ip_pool': senderDomainIpPool,
  '20270103000100_deletion_marks': deletionMarks,
  '20270103000200_queue_walk_indexes': queueWalkIndexes,
  '20270104000100_message_list_send': messageListSend,
  '20270105000100_create_quota_refunds': createQuotaRefunds,
  '20270106000100_fixed_width_lease': fixedWidthLease,
  '20270107000100_quota_refund_tokens': quotaRefundTokens,
  '20270108000100_lease_index': leaseIndex,
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(MIGRATIONS).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    return MIGRATIONS[name];
  },
};

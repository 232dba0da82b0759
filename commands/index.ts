import type { CommandDef } from '../src/command';
import accountOverview from './account.overview';
import adminApikeyReset from './admin.apikey.reset';
import adminLogin from './admin.login';
import adminLogout from './admin.logout';
import adminPasswordReset from './admin.password.reset';
import campaignCancel from './campaign.cancel';
import campaignCreate from './campaign.create';
import campaignGet from './campaign.get';
import campaignLaunch from './campaign.launch';
import campaignsGet from './campaigns.get';
import contactsCreate from './contacts.create';
import contactsList from './contacts.list';
import customfieldCreate from './customfield.create';
import customfieldDelete from './customfield.delete';
import customfieldsGet from './customfields.get';
import emailTemplateCreate from './email.template.create';
import emailTemplateDelete from './email.template.delete';
import emailTemplateGet from './email.template.get';
import emailTemplateUpdate from './email.template.update';
import emailTemplatesGet from './email.templates.get';
import emailgatewayAccountstatsPublic from './emailgateway.accountstats.public';
import emailgatewayAccountstats from './emailgateway.accountstats';
import emailgatewayAccountsummary from './emailgateway.accountsummary';
import emailgatewayAddapi from './emailgateway.addapi';
import emailgatewayAdddomain from './emailgateway.adddomain';
import emailgatewayAddsmtp from './emailgateway.addsmtp';
import emailgatewayAddsuppressionPublic from './emailgateway.addsuppression.public';
import emailgatewayAddsuppression from './emailgateway.addsuppression';
import emailgatewayAddwebhookPublic from './emailgateway.addwebhook.public';
import emailgatewayAddwebhook from './emailgateway.addwebhook';
import emailgatewayAggrevents from './emailgateway.aggrevents';
import emailgatewayCancelmessage from './emailgateway.cancelmessage';
import emailgatewayCancelqueuedmessage from './emailgateway.cancelqueuedmessage';
import emailgatewayCleardomainqueue from './emailgateway.cleardomainqueue';
import emailgatewayDailyseries from './emailgateway.dailyseries';
import emailgatewayDailystats from './emailgateway.dailystats';
import emailgatewayDeleteapi from './emailgateway.deleteapi';
import emailgatewayDeletedomain from './emailgateway.deletedomain';
import emailgatewayDeletesmtp from './emailgateway.deletesmtp';
import emailgatewayDeletesuppressionPublic from './emailgateway.deletesuppression.public';
import emailgatewayDeletesuppression from './emailgateway.deletesuppression';
import emailgatewayDeletewebhookPublic from './emailgateway.deletewebhook.public';
import emailgatewayDeletewebhook from './emailgateway.deletewebhook';
import emailgatewayDomainstats from './emailgateway.domainstats';
import emailgatewayExportevents from './emailgateway.exportevents';
import emailgatewayGetalldomains from './emailgateway.getalldomains';
import emailgatewayGetapis from './emailgateway.getapis';
import emailgatewayGetcapturedmessagePublic from './emailgateway.getcapturedmessage.public';
import emailgatewayGetcapturedmessage from './emailgateway.getcapturedmessage';
import emailgatewayGetcapturedmessagesPublic from './emailgateway.getcapturedmessages.public';
import emailgatewayGetcapturedmessages from './emailgateway.getcapturedmessages';
import emailgatewayGetdomain from './emailgateway.getdomain';
import emailgatewayGetdomains from './emailgateway.getdomains';
import emailgatewayGeteventsPublic from './emailgateway.getevents.public';
import emailgatewayGetevents from './emailgateway.getevents';
import emailgatewayGetmessage from './emailgateway.getmessage';
import emailgatewayGetmessagelog from './emailgateway.getmessagelog';
import emailgatewayGetmessages from './emailgateway.getmessages';
import emailgatewayGetmessagetimeline from './emailgateway.getmessagetimeline';
import emailgatewayGetsmtps from './emailgateway.getsmtps';
import emailgatewayGetsuppressionsPublic from './emailgateway.getsuppressions.public';
import emailgatewayGetsuppressions from './emailgateway.getsuppressions';
import emailgatewayGetwebhooklogPublic from './emailgateway.getwebhooklog.public';
import emailgatewayGetwebhooklog from './emailgateway.getwebhooklog';
import emailgatewayGetwebhooksPublic from './emailgateway.getwebhooks.public';
import emailgatewayGetwebhooks from './emailgateway.getwebhooks';
import emailgatewayInboundrelaydomaincheck from './emailgateway.inboundrelaydomaincheck';
import emailgatewayListrecipientdomains from './emailgateway.listrecipientdomains';
import emailgatewayRecipientdomainstats from './emailgateway.recipientdomainstats';
import emailgatewayRegeneratesigningkey from './emailgateway.regeneratesigningkey';
import emailgatewayReplaceapi from './emailgateway.replaceapi';
import emailgatewayResetsmtppassword from './emailgateway.resetsmtppassword';
import emailgatewayRotatedkim from './emailgateway.rotatedkim';
import emailgatewaySendbatch from './emailgateway.sendbatch';
import emailgatewaySendemail from './emailgateway.sendemail';
import emailgatewaySendtestemail from './emailgateway.sendtestemail';
import emailgatewaySmtprelay from './emailgateway.smtprelay';
import emailgatewayUpdatedomain from './emailgateway.updatedomain';
import emailgatewayVerifydomain from './emailgateway.verifydomain';
import listCreate from './list.create';
import listDelete from './list.delete';
import listGet from './list.get';
import listUpdate from './list.update';
import listsGet from './lists.get';
import queueHold from './queue.hold';
import queueList from './queue.list';
import queuePurge from './queue.purge';
import queueRelease from './queue.release';
import queueRetry from './queue.retry';
import queueStatus from './queue.status';
import senderDomains from './sender.domains';
import subscriberCreate from './subscriber.create';
import subscriberDelete from './subscriber.delete';
import subscriberGet from './subscriber.get';
import subscriberSubscribe from './subscriber.subscribe';
import subscriberUnsubscribe from './subscriber.unsubscribe';
import subscriberUpdate from './subscriber.update';
import subscribersGet from './subscribers.get';
import suppressionBrowse from './suppression.browse';
import suppressionCheck from './suppression.check';
import suppressionDelete from './suppression.delete';
import suppressionImport from './suppression.import';
import suppressionPatternsGet from './suppression.patterns.get';
import suppressionPatternsSet from './suppression.patterns.set';
import suppressionStats from './suppression.stats';
import suppressionWhitelistGet from './suppression.whitelist.get';
import suppressionWhitelistSet from './suppression.whitelist.set';
import userApikeyCreate from './user.apikey.create';
import userApikeyDelete from './user.apikey.delete';
import userApikeyList from './user.apikey.list';
import userCreate from './user.create';
import userCurrent from './user.current';
import userDelete from './user.delete';
import userGet from './user.get';
import userLogin from './user.login';
import userLogout from './user.logout';
import userSenderdomainCreate from './user.senderdomain.create';
import userSenderdomainDelete from './user.senderdomain.delete';
import userSenderdomainDns from './user.senderdomain.dns';
import userSenderdomainDnshost from './user.senderdomain.dnshost';
import userSenderdomainGet from './user.senderdomain.get';
import userSenderdomainList from './user.senderdomain.list';
import userSenderdomainSendtest from './user.senderdomain.sendtest';
import userSenderdomainUpdate from './user.senderdomain.update';
import userSenderdomainVerify from './user.senderdomain.verify';
import userUpdate from './user.update';
import userWebhookCreate from './user.webhook.create';
import userWebhookDelete from './user.webhook.delete';
import userWebhookGet from './user.webhook.get';
import userWebhookList from './user.webhook.list';
import userWebhookReceive from './user.webhook.receive';
import userWebhookStats from './user.webhook.stats';
import userWebhookUpdate from './user.webhook.update';
import usersGet from './users.get';
import webhookCreate from './webhook.create';
import webhookDelete from './webhook.delete';
import webhookList from './webhook.list';

/** THE command table: lowercase command name → module. Looked up by own property only (src/dispatch.ts). */
// Generated by scripts/gen-commands-index.js (npm run gen:commands): do not edit by hand.
export const commands: Record<string, CommandDef> = Object.assign(Object.create(null), {
  'account.overview': accountOverview,
  'admin.apikey.reset': adminApikeyReset,
  'admin.login': adminLogin,
  'admin.logout': adminLogout,
  'admin.password.reset': adminPasswordReset,
  'campaign.cancel': campaignCancel,
  'campaign.create': campaignCreate,
  'campaign.get': campaignGet,
  'campaign.launch': campaignLaunch,
  'campaigns.get': campaignsGet,
  'contacts.create': contactsCreate,
  'contacts.list': contactsList,
  'customfield.create': customfieldCreate,
  'customfield.delete': customfieldDelete,
  'customfields.get': customfieldsGet,
  'email.template.create': emailTemplateCreate,
  'email.template.delete': emailTemplateDelete,
  'email.template.get': emailTemplateGet,
  'email.template.update': emailTemplateUpdate,
  'email.templates.get': emailTemplatesGet,
  'emailgateway.accountstats.public': emailgatewayAccountstatsPublic,
  'emailgateway.accountstats': emailgatewayAccountstats,
  'emailgateway.accountsummary': emailgatewayAccountsummary,
  'emailgateway.addapi': emailgatewayAddapi,
  'emailgateway.adddomain': emailgatewayAdddomain,
  'emailgateway.addsmtp': emailgatewayAddsmtp,
  'emailgateway.addsuppression.public': emailgatewayAddsuppressionPublic,
  'emailgateway.addsuppression': emailgatewayAddsuppression,
  'emailgateway.addwebhook.public': emailgatewayAddwebhookPublic,
  'emailgateway.addwebhook': emailgatewayAddwebhook,
  'emailgateway.aggrevents': emailgatewayAggrevents,
  'emailgateway.cancelmessage': emailgatewayCancelmessage,
  'emailgateway.cancelqueuedmessage': emailgatewayCancelqueuedmessage,
  'emailgateway.cleardomainqueue': emailgatewayCleardomainqueue,
  'emailgateway.dailyseries': emailgatewayDailyseries,
  'emailgateway.dailystats': emailgatewayDailystats,
  'emailgateway.deleteapi': emailgatewayDeleteapi,
  'emailgateway.deletedomain': emailgatewayDeletedomain,
  'emailgateway.deletesmtp': emailgatewayDeletesmtp,
  'emailgateway.deletesuppression.public': emailgatewayDeletesuppressionPublic,
  'emailgateway.deletesuppression': emailgatewayDeletesuppression,
  'emailgateway.deletewebhook.public': emailgatewayDeletewebhookPublic,
  'emailgateway.deletewebhook': emailgatewayDeletewebhook,
  'emailgateway.domainstats': emailgatewayDomainstats,
  'emailgateway.exportevents': emailgatewayExportevents,
  'emailgateway.getalldomains': emailgatewayGetalldomains,
  'emailgateway.getapis': emailgatewayGetapis,
  'emailgateway.getcapturedmessage.public': emailgatewayGetcapturedmessagePublic,
  'emailgateway.getcapturedmessage': emailgatewayGetcapturedmessage,
  'emailgateway.getcapturedmessages.public': emailgatewayGetcapturedmessagesPublic,
  'emailgateway.getcapturedmessages': emailgatewayGetcapturedmessages,
  'emailgateway.getdomain': emailgatewayGetdomain,
  'emailgateway.getdomains': emailgatewayGetdomains,
  'emailgateway.getevents.public': emailgatewayGeteventsPublic,
  'emailgateway.getevents': emailgatewayGetevents,
  'emailgateway.getmessage': emailgatewayGetmessage,
  'emailgateway.getmessagelog': emailgatewayGetmessagelog,
  'emailgateway.getmessages': emailgatewayGetmessages,
  'emailgateway.getmessagetimeline': emailgatewayGetmessagetimeline,
  'emailgateway.getsmtps': emailgatewayGetsmtps,
  'emailgateway.getsuppressions.public': emailgatewayGetsuppressionsPublic,
  'emailgateway.getsuppressions': emailgatewayGetsuppressions,
  'emailgateway.getwebhooklog.public': emailgatewayGetwebhooklogPublic,
  'emailgateway.getwebhooklog': emailgatewayGetwebhooklog,
  'emailgateway.getwebhooks.public': emailgatewayGetwebhooksPublic,
  'emailgateway.getwebhooks': emailgatewayGetwebhooks,
  'emailgateway.inboundrelaydomaincheck': emailgatewayInboundrelaydomaincheck,
  'emailgateway.listrecipientdomains': emailgatewayListrecipientdomains,
  'emailgateway.recipientdomainstats': emailgatewayRecipientdomainstats,
  'emailgateway.regeneratesigningkey': emailgatewayRegeneratesigningkey,
  'emailgateway.replaceapi': emailgatewayReplaceapi,
  'emailgateway.resetsmtppassword': emailgatewayResetsmtppassword,
  'emailgateway.rotatedkim': emailgatewayRotatedkim,
  'emailgateway.sendbatch': emailgatewaySendbatch,
  'emailgateway.sendemail': emailgatewaySendemail,
  'emailgateway.sendtestemail': emailgatewaySendtestemail,
  'emailgateway.smtprelay': emailgatewaySmtprelay,
  'emailgateway.updatedomain': emailgatewayUpdatedomain,
  'emailgateway.verifydomain': emailgatewayVerifydomain,
  'list.create': listCreate,
  'list.delete': listDelete,
  'list.get': listGet,
  'list.update': listUpdate,
  'lists.get': listsGet,
  'queue.hold': queueHold,
  'queue.list': queueList,
  'queue.purge': queuePurge,
  'queue.release': queueRelease,
  'queue.retry': queueRetry,
  'queue.status': queueStatus,
  'sender.domains': senderDomains,
  'subscriber.create': subscriberCreate,
  'subscriber.delete': subscriberDelete,
  'subscriber.get': subscriberGet,
  'subscriber.subscribe': subscriberSubscribe,
  'subscriber.unsubscribe': subscriberUnsubscribe,
  'subscriber.update': subscriberUpdate,
  'subscribers.get': subscribersGet,
  'suppression.browse': suppressionBrowse,
  'suppression.check': suppressionCheck,
  'suppression.delete': suppressionDelete,
  'suppression.import': suppressionImport,
  'suppression.patterns.get': suppressionPatternsGet,
  'suppression.patterns.set': suppressionPatternsSet,
  'suppression.stats': suppressionStats,
  'suppression.whitelist.get': suppressionWhitelistGet,
  'suppression.whitelist.set': suppressionWhitelistSet,
  'user.apikey.create': userApikeyCreate,
  'user.apikey.delete': userApikeyDelete,
  'user.apikey.list': userApikeyList,
  'user.create': userCreate,
  'user.current': userCurrent,
  'user.delete': userDelete,
  'user.get': userGet,
  'user.login': userLogin,
  'user.logout': userLogout,
  'user.senderdomain.create': userSenderdomainCreate,
  'user.senderdomain.delete': userSenderdomainDelete,
  'user.senderdomain.dns': userSenderdomainDns,
  'user.senderdomain.dnshost': userSenderdomainDnshost,
  'user.senderdomain.get': userSenderdomainGet,
  'user.senderdomain.list': userSenderdomainList,
  'user.senderdomain.sendtest': userSenderdomainSendtest,
  'user.senderdomain.update': userSenderdomainUpdate,
  'user.senderdomain.verify': userSenderdomainVerify,
  'user.update': userUpdate,
  'user.webhook.create': userWebhookCreate,
  'user.webhook.delete': userWebhookDelete,
  'user.webhook.get': userWebhookGet,
  'user.webhook.list': userWebhookList,
  'user.webhook.receive': userWebhookReceive,
  'user.webhook.stats': userWebhookStats,
  'user.webhook.update': userWebhookUpdate,
  'users.get': usersGet,
  'webhook.create': webhookCreate,
  'webhook.delete': webhookDelete,
  'webhook.list': webhookList,
});

for (const [name, def] of Object.entries(commands)) {
  if (def.name !== name) throw new Error(`commands/index.ts: ${name} maps to a module named ${def.name}`);
}

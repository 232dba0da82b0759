import type { CommandDef } from '../src/command';
import adminLogin from './admin.login';
import adminLogout from './admin.logout';
import emailgatewayAddapi from './emailgateway.addapi';
import emailgatewayAdddomain from './emailgateway.adddomain';
import emailgatewayAddsmtp from './emailgateway.addsmtp';
import emailgatewayAddsuppression from './emailgateway.addsuppression';
import emailgatewayAddsuppressionPublic from './emailgateway.addsuppression.public';
import emailgatewayCancelmessage from './emailgateway.cancelmessage';
import emailgatewayCleardomainqueue from './emailgateway.cleardomainqueue';
import emailgatewayDeleteapi from './emailgateway.deleteapi';
import emailgatewayDeletedomain from './emailgateway.deletedomain';
import emailgatewayDeletesmtp from './emailgateway.deletesmtp';
import emailgatewayDeletesuppression from './emailgateway.deletesuppression';
import emailgatewayDeletesuppressionPublic from './emailgateway.deletesuppression.public';
import emailgatewayGetapis from './emailgateway.getapis';
import emailgatewayGetdomain from './emailgateway.getdomain';
import emailgatewayGetdomains from './emailgateway.getdomains';
import emailgatewayGetmessage from './emailgateway.getmessage';
import emailgatewayGetmessages from './emailgateway.getmessages';
import emailgatewayGetsmtps from './emailgateway.getsmtps';
import emailgatewayGetsuppressions from './emailgateway.getsuppressions';
import emailgatewayGetsuppressionsPublic from './emailgateway.getsuppressions.public';
import emailgatewayInboundrelaydomaincheck from './emailgateway.inboundrelaydomaincheck';
import emailgatewayReplaceapi from './emailgateway.replaceapi';
import emailgatewayResetsmtppassword from './emailgateway.resetsmtppassword';
import emailgatewaySendbatch from './emailgateway.sendbatch';
import emailgatewaySendemail from './emailgateway.sendemail';
import emailgatewaySmtprelay from './emailgateway.smtprelay';
import emailgatewayUpdatedomain from './emailgateway.updatedomain';
import emailgatewayVerifydomain from './emailgateway.verifydomain';
import senderDomains from './sender.domains';
import userApikeyCreate from './user.apikey.create';
import userApikeyDelete from './user.apikey.delete';
import userApikeyList from './user.apikey.list';
import userCreate from './user.create';
import userCurrent from './user.current';
import userDelete from './user.delete';
import userGet from './user.get';
import userLogin from './user.login';
import userLogout from './user.logout';
import userUpdate from './user.update';
import usersGet from './users.get';

/** THE command table: lowercase command name → module. Looked up by own property only (src/dispatch.ts). */
export const commands: Record<string, CommandDef> = Object.assign(Object.create(null), {
  'admin.login': adminLogin,
  'admin.logout': adminLogout,
  'emailgateway.addapi': emailgatewayAddapi,
  'emailgateway.adddomain': emailgatewayAdddomain,
  'emailgateway.addsmtp': emailgatewayAddsmtp,
  'emailgateway.addsuppression': emailgatewayAddsuppression,
  'emailgateway.addsuppression.public': emailgatewayAddsuppressionPublic,
  'emailgateway.cancelmessage': emailgatewayCancelmessage,
  'emailgateway.cleardomainqueue': emailgatewayCleardomainqueue,
  'emailgateway.deleteapi': emailgatewayDeleteapi,
  'emailgateway.deletedomain': emailgatewayDeletedomain,
  'emailgateway.deletesmtp': emailgatewayDeletesmtp,
  'emailgateway.deletesuppression': emailgatewayDeletesuppression,
  'emailgateway.deletesuppression.public': emailgatewayDeletesuppressionPublic,
  'emailgateway.getapis': emailgatewayGetapis,
  'emailgateway.getdomain': emailgatewayGetdomain,
  'emailgateway.getdomains': emailgatewayGetdomains,
  'emailgateway.getmessage': emailgatewayGetmessage,
  'emailgateway.getmessages': emailgatewayGetmessages,
  'emailgateway.getsmtps': emailgatewayGetsmtps,
  'emailgateway.getsuppressions': emailgatewayGetsuppressions,
  'emailgateway.getsuppressions.public': emailgatewayGetsuppressionsPublic,
  'emailgateway.inboundrelaydomaincheck': emailgatewayInboundrelaydomaincheck,
  'emailgateway.replaceapi': emailgatewayReplaceapi,
  'emailgateway.resetsmtppassword': emailgatewayResetsmtppassword,
  'emailgateway.sendbatch': emailgatewaySendbatch,
  'emailgateway.sendemail': emailgatewaySendemail,
  'emailgateway.smtprelay': emailgatewaySmtprelay,
  'emailgateway.updatedomain': emailgatewayUpdatedomain,
  'emailgateway.verifydomain': emailgatewayVerifydomain,
  'sender.domains': senderDomains,
  'user.apikey.create': userApikeyCreate,
  'user.apikey.delete': userApikeyDelete,
  'user.apikey.list': userApikeyList,
  'user.create': userCreate,
  'user.current': userCurrent,
  'user.delete': userDelete,
  'user.get': userGet,
  'user.login': userLogin,
  'user.logout': userLogout,
  'user.update': userUpdate,
  'users.get': usersGet,
});

for (const [name, def] of Object.entries(commands)) {
  if (def.name !== name) throw new Error(`commands/index.ts: ${name} maps to a module named ${def.name}`);
}

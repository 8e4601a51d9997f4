// Nuvei's official Node SDK (npm `safecharge`) drives the PGM's Nuvei mock: if the SDK's own
// requests (its checksums, its timeStamp, its JSON-schema-validated bodies) pass the mock and
// the SDK accepts the mock's answers (it calls back with an error unless HTTP 200 and
// errCode 0), the mock speaks Nuvei's wire format.
//
// The SDK has no base-URL setting: `initiate(..., env)` picks a fixed host in lib/snr.js (its
// "server name resolver"). The resolver module is replaced in Node's module cache before the
// SDK loads, so every request goes to the mock; nothing else of the SDK is touched.
//
// Usage: node safecharge_sdk.js <mock base URL> <merchantId> <merchantSiteId> <secret>

const path = require('path');
const [mockUrl, merchantId, siteId, secret] = process.argv.slice(2);
const snr = require.resolve('safecharge/lib/snr', { paths: [__dirname] });
require.cache[snr] = {
  id: snr, filename: snr, loaded: true,
  exports: (server, service) => mockUrl + '/ppp/' + service,
};
const sdk = require(require.resolve('safecharge', { paths: [__dirname] }));
sdk.initiate(merchantId, siteId, secret, 'test');

const call = (name, data) => new Promise((resolve, reject) =>
  sdk[name](data, (err, res) => (err ? reject(new Error(name + ': ' + JSON.stringify(err))) : resolve(res))));
const expectError = (name, data) => new Promise((resolve, reject) =>
  sdk[name](data, (err) => (err ? resolve(err) : reject(new Error(name + ' should fail')))));
const assert = (cond, what) => { if (!cond) throw new Error('assertion failed: ' + what); };

const card = (number) => ({ card: { cardNumber: number, cardHolderName: 'Ada Lovelace',
  expirationMonth: '12', expirationYear: '34', CVV: '217' } });
const device = { ipAddress: '192.0.2.1' };
const billing = { country: 'IT', email: 'ada@example.com' };

async function sale(id, amount, cardNumber, transactionType) {
  const order = await call('openOrder', { clientUniqueId: id, amount, currency: 'EUR', transactionType });
  assert(order.sessionToken && order.orderId, 'openOrder returns sessionToken and orderId');
  const paid = await call('payment', { sessionToken: order.sessionToken, clientUniqueId: id, amount,
    currency: 'EUR', paymentOption: card(cardNumber), deviceDetails: device, billingAddress: billing,
    transactionType });
  return { order, paid };
}

(async () => {
  const approved = process.env.CARD_APPROVED, challenge = process.env.CARD_CHALLENGE;
  // openOrder → payment (Sale) → getPaymentStatus → two partial refunds.
  const { order, paid } = await sale('sdk-sale', '20.00', approved, 'Sale');
  assert(paid.transactionStatus === 'APPROVED' && paid.transactionType === 'Sale', 'sale approved');
  const status = await call('getPaymentStatus', { sessionToken: order.sessionToken });
  assert(status.transactionStatus === 'APPROVED' && status.transactionId === paid.transactionId, 'status');
  for (const amount of ['5.00', '15.00']) {
    const refund = await call('refundTransaction', { clientUniqueId: 'sdk-sale', amount, currency: 'EUR',
      relatedTransactionId: paid.transactionId, authCode: paid.authCode });
    assert(refund.transactionStatus === 'APPROVED' && refund.transactionType === 'Credit', 'refund ' + amount);
  }
  const over = await expectError('refundTransaction', { clientUniqueId: 'sdk-sale', amount: '0.01',
    currency: 'EUR', relatedTransactionId: paid.transactionId });
  assert(over.errCode === 1058, 'over-refund refused: ' + JSON.stringify(over));

  // openOrder → payment (Auth) → settle; another Auth → void.
  const auth = await sale('sdk-auth', '10.00', approved, 'Auth');
  assert(auth.paid.transactionType === 'Auth', 'auth');
  const settled = await call('settleTransaction', { clientUniqueId: 'sdk-auth', amount: '10.00',
    currency: 'EUR', relatedTransactionId: auth.paid.transactionId, authCode: auth.paid.authCode });
  assert(settled.transactionStatus === 'APPROVED' && settled.transactionType === 'Settle', 'settle');
  const held = await sale('sdk-void', '4.00', approved, 'Auth');
  const voided = await call('voidTransaction', { clientUniqueId: 'sdk-void', amount: '4.00',
    currency: 'EUR', relatedTransactionId: held.paid.transactionId, authCode: held.paid.authCode });
  assert(voided.transactionStatus === 'APPROVED' && voided.transactionType === 'Void', 'void');

  // A 3-D Secure challenge: REDIRECT with the ACS URL and cReq.
  const challenged = await sale('sdk-3ds', '7.00', challenge, 'Sale');
  const threeD = challenged.paid.paymentOption.card.threeD;
  assert(challenged.paid.transactionStatus === 'REDIRECT' && threeD.acsUrl && threeD.cReq, '3DS challenge');

  // A wrong secret: Nuvei's 1001, which the SDK reports as an error.
  sdk.initiate(merchantId, siteId, 'not-the-secret', 'test');
  const refused = await expectError('openOrder', { clientUniqueId: 'sdk-bad', amount: '1.00', currency: 'EUR' });
  assert(refused.errCode === 1001, 'bad checksum refused: ' + JSON.stringify(refused));
  console.log(JSON.stringify({ ok: true, challengeTransactionId: challenged.paid.transactionId }));
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });

// Checks credentials with implementations the tool does not use: jsonld.js in safe mode (refuses undefined
// terms and relative IRIs) and Digital Bazaar's vc + data-integrity + eddsa-rdfc-2022 libraries (what the
// Digital Credentials Consortium's wallet and verifier build on), including the controller document check
// (the issuer profile must list the key under assertionMethod). Offline: contexts come from tests/contexts,
// the issuer's documents from the input file.
//
// The revocation status is checked with Digital Bazaar's vc-bitstring-status-list, which loads the status list
// credential as a document (the input gives it under its URL) and verifies its embedded proof too.
//
// Input (argv[2]): {"documents": {url: document}, "cases": {name: credential}}
// Output (stdout): {name: {"safe": "ok" | error message, "verified": bool, "errors": [messages],
//                          "status": {"verified": bool, "revoked": bool} | null}}
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import jsonld from 'jsonld';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const here = path.dirname(fileURLToPath(import.meta.url));
const contexts = {
  'https://www.w3.org/ns/credentials/v2': 'credentials-v2.json',
  'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json': 'ob-context-3.0.3.json',
  'https://purl.imsglobal.org/spec/ob/v3p0/extensions.json': 'ob-extensions.json',
  'https://w3id.org/security/multikey/v1': 'multikey-v1.json',
};
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const documentLoader = async (url) => {
  if (contexts[url]) {
    const document = JSON.parse(fs.readFileSync(path.join(here, 'contexts', contexts[url]), 'utf8'));
    return {contextUrl: null, documentUrl: url, document};
  }
  if (input.documents[url]) return {contextUrl: null, documentUrl: url, document: input.documents[url]};
  throw new Error(`not available offline: ${url}`);
};
const messages = (value, found = []) => {
  if (value instanceof Error) found.push(value.message);
  if (value && typeof value === 'object') for (const v of Object.values(value)) messages(v, found);
  return found;
};
const out = {};
for (const [name, credential] of Object.entries(input.cases)) {
  let safe = 'ok';
  try {
    await jsonld.expand(credential, {documentLoader, safe: true});
  } catch (e) {
    safe = `${e.message} ${JSON.stringify(e.details?.event?.code ?? '')}`;
  }
  const suite = new DataIntegrityProof({cryptosuite});
  const result = await vc.verifyCredential({
    credential, suite, documentLoader,
    checkStatus: (options) => checkStatus({...options, suite: new DataIntegrityProof({cryptosuite})}),
  });
  const status = result.statusResult ?? null;
  out[name] = {
    safe,
    verified: result.verified,
    errors: [...new Set(messages(result))],
    status: status && {
      verified: status.verified,
      revoked: (status.results ?? []).some(r => r.verified && r.status === true),
    },
  };
}
for (const [url, document] of Object.entries(input.documents)) {
  try {
    await jsonld.expand(document, {documentLoader, safe: true});
    out[url] = {safe: 'ok'};
  } catch (e) {
    out[url] = {safe: e.message};
  }
}
process.stdout.write(JSON.stringify(out));

// Verifies a Tessera access token with the `jose` package, knowing only the
// JWKS URL.
//
// Usage: node verify_jose.mjs JWKS_URL TOKEN ISSUER AUDIENCE ALG
//
// The token must verify with exactly ALG, the expected issuer and audience,
// the claims exp, iat, iss, aud and sub, and the header typ at+jwt. Then two
// forgeries made from it must be rejected. The first keeps the signature but
// changes a claim. The second changes the header's alg to HS256 and carries
// an HMAC keyed with the public key's PEM.
//
// Prints one line. Exit status: 0 when every check passed, 1 when a check
// failed, 2 when `jose` cannot be loaded from tests/interop/node_modules.

import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';

const USAGE = 'usage: node verify_jose.mjs JWKS_URL TOKEN ISSUER AUDIENCE ALG';
const REQUIRED_CLAIMS = ['exp', 'iat', 'iss', 'aud', 'sub'];
// Milliseconds createRemoteJWKSet waits for the JWKS response.
const JWKS_TIMEOUT_MS = 10_000;

let jose;
try {
  jose = await import('jose');
} catch (error) {
  console.error(
    `the jose package cannot be loaded (${error.code ?? error.message}): ` +
      'run tests/run, which runs npm ci in tests/interop',
  );
  process.exit(2);
}

class CheckFailed extends Error {}

const encodeSegment = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decodeSegment = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

// Returns the token with its sub claim replaced and the signature kept.
function forgeChangedClaim(token) {
  const [header, payload, signature] = token.split('.');
  const claims = decodeSegment(payload);
  claims.sub = `forged-${claims.sub}`;
  const forgedPayload = encodeSegment(claims);
  if (forgedPayload === payload) {
    throw new CheckFailed('the forged payload equals the original');
  }
  return `${header}.${forgedPayload}.${signature}`;
}

// Returns the token re-signed with HS256 under the public key's PEM text,
// which a verifier that trusted the header would take for a shared secret.
function forgeHs256(token, hmacKey) {
  const [header, payload] = token.split('.');
  const forgedHeader = encodeSegment({ ...decodeSegment(header), alg: 'HS256' });
  const signingInput = `${forgedHeader}.${payload}`;
  const signature = createHmac('sha256', hmacKey).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

// Fetches the JWKS and returns the key with this kid as SPKI PEM.
async function fetchPublicKeyPem(jwksUrl, kid, alg) {
  const response = await fetch(jwksUrl, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS) });
  if (response.status !== 200) {
    throw new CheckFailed(`GET ${jwksUrl} returned ${response.status}`);
  }
  const { keys } = await response.json();
  const jwk = keys.find((candidate) => candidate.kid === kid);
  if (jwk === undefined) {
    throw new CheckFailed(`the JWKS has no key with kid ${kid}`);
  }
  const key = await jose.importJWK(jwk, alg, { extractable: true });
  return jose.exportSPKI(key);
}

// Runs verify() and throws CheckFailed unless it fails with expectedCode.
async function expectRejection(name, expectedCode, verify) {
  try {
    await verify();
  } catch (error) {
    if (error.code === expectedCode) {
      return;
    }
    throw new CheckFailed(`${name}: expected ${expectedCode}, got ${error.code ?? error.name}: ${error.message}`);
  }
  throw new CheckFailed(`${name}: jose accepted it`);
}

async function run(jwksUrl, token, issuer, audience, alg) {
  const jwks = jose.createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS });
  const options = { issuer, audience, algorithms: [alg], typ: 'at+jwt', requiredClaims: REQUIRED_CLAIMS };
  const verify = (candidate) => jose.jwtVerify(candidate, jwks, options);

  const { payload, protectedHeader } = await verify(token);
  if (protectedHeader.alg !== alg) {
    throw new CheckFailed(`header alg is ${protectedHeader.alg}, expected ${alg}`);
  }

  await expectRejection(
    'token with a changed claim',
    'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    () => verify(forgeChangedClaim(token)),
  );
  const publicKeyPem = await fetchPublicKeyPem(jwksUrl, protectedHeader.kid, alg);
  await expectRejection(
    'token re-signed with HS256',
    'ERR_JOSE_ALG_NOT_ALLOWED',
    () => verify(forgeHs256(token, publicKeyPem)),
  );

  return `jose verified alg=${alg} kid=${protectedHeader.kid} sub=${payload.sub}`;
}

const args = process.argv.slice(2);
if (args.length !== 5) {
  console.error(USAGE);
  process.exit(1);
}
const [jwksUrl, token, issuer, audience, alg] = args;
try {
  console.log(await run(jwksUrl, token, issuer, audience, alg));
} catch (error) {
  console.error(`jose failed for alg=${alg}: ${error.code ?? error.name}: ${error.message}`);
  process.exit(1);
}

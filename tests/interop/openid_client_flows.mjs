// Runs Tessera's token flows through the `openid-client` package.
//
// Usage: node openid_client_flows.mjs ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
//
// The client must be confidential and registered for the password,
// refresh_token and client_credentials grants with the scopes "read write".
// openid-client reads ISSUER/.well-known/openid-configuration and checks the
// document, with plain http allowed because the test issuer is
// http://127.0.0.1:PORT. Then, with client_secret_basic:
//
// 1. clientCredentialsGrant returns an access token and no refresh token;
// 2. the password grant, sent with genericGrantRequest because
//    openid-client has no helper for it, returns a refresh token;
// 3. refreshTokenGrant returns a new access token and a new refresh token;
// 4. refreshing with the first refresh token again fails with invalid_grant.
//
// Prints one line. Exit status: 0 when every check passed, 1 when a check
// failed, 2 when `openid-client` cannot be loaded from
// tests/interop/node_modules.

import { createRequire } from 'node:module';

const USAGE = 'usage: node openid_client_flows.mjs ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD';
const SCOPE = 'read write';
// Seconds openid-client waits for each HTTP response.
const REQUEST_TIMEOUT_SECONDS = 10;

let client;
try {
  client = await import('openid-client');
} catch (error) {
  console.error(
    `the openid-client package cannot be loaded (${error.code ?? error.message}): ` +
      'run tests/run, which runs npm ci in tests/interop',
  );
  process.exit(2);
}

const version = createRequire(import.meta.url)('openid-client/package.json').version;

class CheckFailed extends Error {}

// Runs one library call and prefixes any error it throws with the step.
async function step(name, libraryCall) {
  try {
    return await libraryCall();
  } catch (error) {
    if (error instanceof CheckFailed) {
      throw error;
    }
    let detail = error.error ? `${error.error}: ${error.error_description ?? ''}` : error.message;
    // fetch() gives the reason, such as ECONNREFUSED, only in its cause.
    const reason = error.cause?.code ?? error.cause?.message;
    if (reason) {
      detail += ` (${reason})`;
    }
    throw new CheckFailed(`${name}: ${error.code ?? error.name}: ${detail}`, { cause: error });
  }
}

function checkAccessToken(name, tokens) {
  if (typeof tokens.access_token !== 'string' || tokens.access_token === '') {
    throw new CheckFailed(`${name}: the response has no access_token`);
  }
  // oauth4webapi 3.8 lowercases token_type before it returns the response.
  if (tokens.token_type !== 'bearer') {
    throw new CheckFailed(`${name}: token_type is ${tokens.token_type}, expected bearer`);
  }
  const expiresIn = tokens.expiresIn();
  if (!(expiresIn > 0)) {
    throw new CheckFailed(`${name}: expiresIn() is ${expiresIn}, expected a positive number of seconds`);
  }
}

// Refreshes with refreshToken and throws unless the token endpoint returns
// invalid_grant.
async function expectInvalidGrant(name, config, refreshToken) {
  try {
    await client.refreshTokenGrant(config, refreshToken);
  } catch (error) {
    if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
      return;
    }
    throw new CheckFailed(`${name}: expected invalid_grant, got ${error.error ?? error.code ?? error.name}: ${error.message}`);
  }
  throw new CheckFailed(`${name}: the refresh succeeded`);
}

async function run(issuer, clientId, clientSecret, username, password) {
  const config = await step('discovery', () =>
    client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
      execute: [client.allowInsecureRequests],
      timeout: REQUEST_TIMEOUT_SECONDS,
    }),
  );
  const discoveredIssuer = config.serverMetadata().issuer;
  if (discoveredIssuer !== issuer) {
    throw new CheckFailed(`discovery: the issuer is ${discoveredIssuer}, expected ${issuer}`);
  }

  let name = 'client_credentials grant';
  const machine = await step(name, () => client.clientCredentialsGrant(config, { scope: SCOPE }));
  checkAccessToken(name, machine);
  if (machine.refresh_token !== undefined) {
    throw new CheckFailed(`${name}: the response has a refresh_token, which RFC 6749 §4.4.3 says it should not`);
  }

  name = 'password grant';
  const first = await step(name, () =>
    client.genericGrantRequest(config, 'password', { username, password, scope: SCOPE }),
  );
  checkAccessToken(name, first);
  if (first.scope !== SCOPE) {
    throw new CheckFailed(`${name}: scope is ${first.scope}, expected ${SCOPE}`);
  }
  if (typeof first.refresh_token !== 'string' || first.refresh_token === '') {
    throw new CheckFailed(`${name}: the response has no refresh_token`);
  }

  name = 'refresh_token grant';
  const second = await step(name, () => client.refreshTokenGrant(config, first.refresh_token));
  checkAccessToken(name, second);
  if (typeof second.refresh_token !== 'string' || second.refresh_token === first.refresh_token) {
    throw new CheckFailed(`${name}: the refresh token did not rotate`);
  }
  if (second.access_token === first.access_token) {
    throw new CheckFailed(`${name}: the access token did not change`);
  }

  await expectInvalidGrant('reuse of the first refresh token', config, first.refresh_token);

  return `openid-client ${version} passed: discovery, client_credentials, password grant, refresh rotation, reuse rejected`;
}

const args = process.argv.slice(2);
if (args.length !== 5) {
  console.error(USAGE);
  process.exit(1);
}
const [issuer, clientId, clientSecret, username, password] = args;
try {
  console.log(await run(issuer, clientId, clientSecret, username, password));
} catch (error) {
  const message = error instanceof CheckFailed ? error.message : `${error.name}: ${error.message}`;
  console.error(`openid-client ${version} failed: ${message}`);
  process.exit(1);
}

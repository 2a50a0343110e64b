// A real OpenID Connect provider for the crisis console's sign-in tests: oidc-provider (certified),
// configured the way a production provider must be for the console:
//   - one client, "rn-console": authorization code with PKCE (required, even when it has a secret),
//     refresh tokens;
//   - access tokens are JWTs (ES256) for one resource, whose audience is the services' RN_JWT_AUDIENCE,
//     carrying the claims the services read: org, roles, regions;
//   - the built-in development login and consent pages (any password), for a browser to sign in.
//
// Environment:
//   OIDC_PORT            where to listen (127.0.0.1)
//   OIDC_ISSUER          the issuer (default http://localhost:<port>): what RN_OIDC_ISSUER and
//                        RN_JWT_ISSUER are set to
//   OIDC_REDIRECT_URIS   the client's redirect URIs, space-separated
//   OIDC_AUDIENCE        the access tokens' `aud`: RN_JWT_AUDIENCE (default recovery-network)
//   OIDC_RESOURCE        the resource indicator standing for the services (an absolute URI; default
//                        urn:recovery-network:services)
//   OIDC_CLIENT_SECRET   makes the client confidential (client_secret_basic); without it, public
//   OIDC_ACCESS_TOKEN_TTL seconds an access token lives (default 600)
//   OIDC_ACCOUNTS        JSON {sub: {org, roles, regions?, name?}}; default: the one test responder
// Prints "oidc-provider ready at <issuer>" when it answers.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name, fallback) => process.env[name] || fallback;
const port = Number(env('OIDC_PORT', '0'));
const issuer = env('OIDC_ISSUER', `http://localhost:${port}`);
const audience = env('OIDC_AUDIENCE', 'recovery-network');
// A resource indicator must be an absolute URI; the audience it stands for need not be one.
const resource = env('OIDC_RESOURCE', 'urn:recovery-network:services');
const redirectUris = env('OIDC_REDIRECT_URIS', '').split(/\s+/).filter(Boolean);
const clientSecret = env('OIDC_CLIENT_SECRET', '');
const accessTokenTtl = Number(env('OIDC_ACCESS_TOKEN_TTL', '600'));
const accounts = JSON.parse(
  env('OIDC_ACCOUNTS', JSON.stringify({
    'oidc-responder': { org: 'org-a', roles: ['responder'], name: 'OIDC Responder' },
  })),
);

if (!port || redirectUris.length === 0) {
  console.error('set OIDC_PORT and OIDC_REDIRECT_URIS');
  process.exit(2);
}

// A new signing key each run: the services must find it through the provider's JWKS, as in production.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `es256-${randomBytes(4).toString('hex')}`,
  use: 'sig',
  alg: 'ES256',
};

const client = {
  client_id: 'rn-console',
  redirect_uris: redirectUris,
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  id_token_signed_response_alg: 'ES256',
  ...(clientSecret
    ? { client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
    : { token_endpoint_auth_method: 'none' }),
};

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name'] },
  pkce: { required: () => true },
  async findAccount(_ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: account.name };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every access token is for the services, whether or not the client names them (`resource`).
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        // The scopes the console asks for (RN_OIDC_SCOPES): it asks for no API scope of its own.
        scope: 'openid profile offline_access',
        audience,
        accessTokenTTL: accessTokenTtl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  // What the services read from a token; only access tokens for the resource carry them.
  async extraTokenClaims(_ctx, token) {
    if (token.kind !== 'AccessToken') return undefined;
    const account = accounts[token.accountId];
    if (!account) return undefined;
    return { org: account.org, roles: account.roles, regions: account.regions ?? [] };
  },
  // offline_access is what asks for a refresh token; oidc-provider also drops it unless the request
  // says prompt=consent, which the console does not send: the grant type alone decides here.
  async issueRefreshToken(_ctx, refreshClient) {
    return refreshClient.grantTypeAllowed('refresh_token');
  },
  ttl: {
    AccessToken: () => accessTokenTtl,
    IdToken: () => accessTokenTtl,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    RefreshToken: 3600,
  },
});

// Koa swallows a handler's exception into a 500 page: the test log must say what it was.
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

// A real OpenID provider for the console's sign-in tests (npm oidc-provider, a certified implementation).
// Usage: node provider.mjs PORT REDIRECT_URI[,REDIRECT_URI...]
// One confidential client ("mais-console", secret "console-secret"), PKCE required, dev interactions (a login
// form that takes any login name). Accounts: "ig.officer" (roles ["ig"]), "nobody" (no roles claim),
// "auditor" (roles ["audit"]), any other login: roles ["unknown"].
import Provider from "oidc-provider";

const [port, redirects] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const PEOPLE = {
  "ig.officer": { name: "Ida Officer", roles: ["ig"] },
  auditor: { name: "Aud Itor", roles: ["audit"] },
  nobody: { name: "No Body" },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "mais-console",
      client_secret: "console-secret",
      redirect_uris: redirects.split(","),
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], profile: ["name", "roles"] },
  scopes: ["openid", "profile"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  conformIdTokenClaims: false, // put the profile claims in the ID token, where the console reads them
  cookies: { keys: ["mais-test-cookie-key"] },
  async findAccount(ctx, id) {
    const person = PEOPLE[id] ?? { name: id, roles: ["unknown"] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...person };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // Consent is implied for the one test client: a grant for what it asked.
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid profile");
    grant.addOIDCClaims(["name", "roles"]);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));

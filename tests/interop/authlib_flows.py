"""Run Tessera's token flows through Authlib's OAuth2Session (requests).

Usage: authlib_flows.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD

The client must be confidential and registered for the password,
refresh_token and client_credentials grants with the scopes "read write".
The token endpoint is read from the RFC 8414 metadata at
ISSUER/.well-known/oauth-authorization-server. Then:

1. the password grant with client_secret_basic returns an access token and
   a refresh token;
2. Authlib's refresh_token() returns a new access token and a new refresh
   token (rotation);
3. presenting the first refresh token again fails with invalid_grant, and
   so does the second one, because Tessera revokes the whole token family
   when a used refresh token comes back;
4. the client_credentials grant with client_secret_post returns an access
   token and no refresh token.

Each step also checks that Authlib sent the client credentials the way the
step names. Prints one line. Exit status: 0 when every check passed, 1 when
a check failed, 2 when Authlib or requests is not installed for this
interpreter.
"""

import sys
from urllib.parse import parse_qsl

try:
    import authlib
    import requests
    from authlib.integrations.requests_client import OAuth2Session, OAuthError
except ImportError as error:
    print(
        f"Authlib or requests is not installed for {sys.executable} ({error}): "
        "run tests/run, which installs tests/interop/requirements.txt into "
        "target/interop-venv, or set TESSERA_TEST_PYTHON to a Python that has them",
        file=sys.stderr,
    )
    sys.exit(2)

SCOPE = "read write"
# Seconds each HTTP request may take.
REQUEST_TIMEOUT_SECONDS = 10


class CheckFailed(Exception):
    """A response or a library behaviour other than the expected one."""


class LastRequest:
    """Response hook that keeps the last request a session sent."""

    def __init__(self):
        self.request = None

    def __call__(self, response, *args, **kwargs):
        self.request = response.request
        return response

    def form(self):
        """Return the sent form body as a dict of its fields."""
        body = self.request.body or ""
        if isinstance(body, bytes):
            body = body.decode("ascii")
        return dict(parse_qsl(body))


def new_session(client_id, client_secret, auth_method):
    session = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method=auth_method,
        scope=SCOPE,
        default_timeout=REQUEST_TIMEOUT_SECONDS,
    )
    last_request = LastRequest()
    session.hooks["response"].append(last_request)
    return session, last_request


def fetch_token_endpoint(issuer):
    """Read token_endpoint from the RFC 8414 metadata, checking its issuer."""
    url = f"{issuer}/.well-known/oauth-authorization-server"
    response = requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise CheckFailed(f"discovery: GET {url} returned {response.status_code}")
    metadata = response.json()
    if metadata.get("issuer") != issuer:
        raise CheckFailed(f"discovery: the metadata issuer is {metadata.get('issuer')!r}, expected {issuer!r}")
    if not metadata.get("token_endpoint"):
        raise CheckFailed(f"discovery: the metadata at {url} has no token_endpoint")
    return metadata["token_endpoint"]


def check_basic_auth(last_request, step):
    """Fail unless the last request used client_secret_basic only."""
    authorization = last_request.request.headers.get("Authorization", "")
    if not authorization.startswith("Basic "):
        raise CheckFailed(f"{step}: Authlib sent no HTTP Basic credentials")
    if "client_secret" in last_request.form():
        raise CheckFailed(f"{step}: Authlib sent client_secret in the body as well as HTTP Basic")


def check_post_auth(last_request, client_id, step):
    """Fail unless the last request used client_secret_post only."""
    if "Authorization" in last_request.request.headers:
        raise CheckFailed(f"{step}: Authlib sent an Authorization header with client_secret_post")
    form = last_request.form()
    if form.get("client_id") != client_id or not form.get("client_secret"):
        raise CheckFailed(f"{step}: Authlib did not send client_id and client_secret in the body")


def check_access_token(token, step):
    if not token.get("access_token"):
        raise CheckFailed(f"{step}: the response has no access_token")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise CheckFailed(f"{step}: token_type is {token.get('token_type')!r}, expected Bearer")
    if token.is_expired():
        raise CheckFailed(f"{step}: Authlib considers the new token expired (expires_in={token.get('expires_in')!r})")


def call(step, library_function, *args, **kwargs):
    """Run one library call, naming the step in any error it raises."""
    try:
        return library_function(*args, **kwargs)
    except (OAuthError, requests.RequestException, ValueError) as error:
        raise CheckFailed(f"{step}: {type(error).__name__}: {error}") from error


def expect_invalid_grant(session, token_endpoint, refresh_token, step):
    """Fail unless refreshing with refresh_token raises invalid_grant."""
    try:
        session.refresh_token(token_endpoint, refresh_token=refresh_token)
    except requests.RequestException as error:
        raise CheckFailed(f"{step}: {type(error).__name__}: {error}") from error
    except OAuthError as error:
        if error.error != "invalid_grant":
            raise CheckFailed(f"{step}: expected invalid_grant, got {error.error}: {error.description}") from error
        return
    raise CheckFailed(f"{step}: the refresh succeeded")


def run(issuer, client_id, client_secret, username, password):
    token_endpoint = call("discovery", fetch_token_endpoint, issuer)

    step = "password grant"
    session, last_request = new_session(client_id, client_secret, "client_secret_basic")
    first = call(
        step,
        session.fetch_token,
        token_endpoint,
        grant_type="password",
        username=username,
        password=password,
    )
    check_basic_auth(last_request, step)
    check_access_token(first, step)
    if first.get("scope") != SCOPE:
        raise CheckFailed(f"{step}: scope is {first.get('scope')!r}, expected {SCOPE!r}")
    first_access = first["access_token"]
    first_refresh = first.get("refresh_token")
    if not first_refresh:
        raise CheckFailed(f"{step}: the response has no refresh_token")

    step = "refresh_token grant"
    second = call(step, session.refresh_token, token_endpoint, refresh_token=first_refresh)
    check_basic_auth(last_request, step)
    check_access_token(second, step)
    second_refresh = second.get("refresh_token")
    # Authlib 1.9 copies the old refresh token into the result when the
    # response lacks one, so an equal value means the token did not rotate.
    if second_refresh == first_refresh:
        raise CheckFailed(f"{step}: the refresh token did not rotate")
    if second["access_token"] == first_access:
        raise CheckFailed(f"{step}: the access token did not change")

    expect_invalid_grant(session, token_endpoint, first_refresh, "reuse of the first refresh token")
    expect_invalid_grant(
        session,
        token_endpoint,
        second_refresh,
        "the rotated refresh token after reuse of the first",
    )

    step = "client_credentials grant"
    session, last_request = new_session(client_id, client_secret, "client_secret_post")
    machine = call(step, session.fetch_token, token_endpoint, grant_type="client_credentials")
    check_post_auth(last_request, client_id, step)
    check_access_token(machine, step)
    if "refresh_token" in machine:
        raise CheckFailed(f"{step}: the response has a refresh_token, which RFC 6749 §4.4.3 says it should not")

    return (
        f"authlib {authlib.__version__} passed: password grant, refresh rotation, "
        "reuse revokes the family, client_credentials"
    )


def main(argv):
    if len(argv) != 6:
        print("usage: authlib_flows.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD", file=sys.stderr)
        return 1
    _, issuer, client_id, client_secret, username, password = argv
    try:
        print(run(issuer, client_id, client_secret, username, password))
    except CheckFailed as error:
        print(f"authlib {authlib.__version__} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

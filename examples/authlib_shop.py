"""A shop in Python with Authlib (Debian: python3-authlib), signing a customer in with a step-up.

  start  ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI ACR   -> {"url", "state", "code_verifier", "nonce"}
  finish ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI ACR CALLBACK_URL STATE CODE_VERIFIER NONCE
                                                         -> the ID token's validated claims

The authorization request asks for ACR as an essential acr claim (OIDC Core 5.5.1.1) and in acr_values; the ID token
is validated with claims_options={"acr": {"essential": True, "values": [ACR]}}, which compares strings: the provider
answers with the value asked for. Over plain http (a test or a loopback setup) set AUTHLIB_INSECURE_TRANSPORT=1.
"""
import json
import secrets
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken


def discover(issuer):
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    if metadata["issuer"] != issuer:
        raise SystemExit(f"issuer mismatch: {metadata['issuer']}")
    return metadata


def session(client_id, client_secret, redirect_uri):
    return OAuth2Session(client_id, client_secret, scope="openid email", redirect_uri=redirect_uri,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def start(issuer, client_id, client_secret, redirect_uri, acr):
    metadata = discover(issuer)
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(16)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [acr]}}})
    url, state = session(client_id, client_secret, redirect_uri).create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, acr_values=acr, claims=claims)
    return {"url": url, "state": state, "code_verifier": verifier, "nonce": nonce}


def finish(issuer, client_id, client_secret, redirect_uri, acr, callback_url, state, verifier, nonce):
    metadata = discover(issuer)
    oauth = session(client_id, client_secret, redirect_uri)
    oauth.state = state
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback_url,
                              code_verifier=verifier, state=state)
    keys = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"values": [issuer]}, "acr": {"essential": True, "values": [acr]}},
                        claims_params={"nonce": nonce, "client_id": client_id})
    claims.validate(leeway=120)
    return dict(claims)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    print(json.dumps(start(*args) if command == "start" else finish(*args)))

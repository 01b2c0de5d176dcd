#!/usr/bin/python3
"""Generates vectors.json: SigV4 test vectors signed by botocore itself.

Run with Debian's botocore (python3-botocore):

    /usr/bin/python3 tests/data/sigv4/generate.py

Each case is built the way botocore builds a real request (prepare_request_dict):
the query is percent-encoded into the URL with botocore.utils.percent_encode_sequence,
the path is the path as sent on the wire (already percent-encoded once), and the
clock is frozen. botocore signs every header except User-Agent, Expect and
X-Amzn-Trace-Id, so the cases carry only headers that fleetsim also signs
(host, content-type, x-amz-*, x-amzn-* but x-amzn-trace-id) plus, in some cases,
a User-Agent, which neither signs.
"""
import datetime
import json
import os
import sys
import types

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.utils

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ASIA = "ASIAEXAMPLETEMPKEY01"
TEMP_SECRET = "tempSecretKey/With+Slash=AndEquals0123456789"
TOKEN = ("IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCWV1LXdlc3QtMSJHMEUCIQD+example/token=="
         "AbCdEf+/0123456789")

IOT_EU = "iot.eu-west-1.amazonaws.com"
STS = "sts.amazonaws.com"
JSON_BODY = '{"thingName":"dev:1","attributePayload":{"attributes":{"site":"Zürich","rack":"A 7"}}}'


def case(name, method="GET", path="/", query=(), headers=(), body="", host=IOT_EU, scheme="https",
         region="eu-west-1", service="iot", when="2024-01-01T00:00:00Z", temporary=False, note=""):
    return dict(name=name, method=method, path=path, query=[list(p) for p in query],
                headers=[list(h) for h in headers], body=body, host=host, scheme=scheme,
                region=region, service=service, when=when, temporary=temporary, note=note)


CASES = [
    case("get-vanilla", note="no query, no body"),
    case("get-empty-path", path="", note="an empty path is canonicalised as /"),
    case("get-user-agent-unsigned", path="/things",
         headers=[("User-Agent", "fleetsim/0.1.0 botocore-vectors")],
         note="User-Agent is sent but never signed"),
    case("iot-list-things-paging", path="/things",
         query=[("nextToken", "a/b+c="), ("maxResults", "5")],
         note="the URL's own order is irrelevant: sorted by encoded key"),
    case("query-space", path="/things", query=[("thingName", "my thing 1"), ("attributeName", "site")],
         note="space is %20, never +"),
    case("query-colon-slash", path="/things",
         query=[("principal", "arn:aws:iot:eu-west-1:123456789012:cert/ab12"), ("thingName", "dev:1")]),
    case("query-reserved-chars", path="/things",
         query=[("q", "a=b&c+d%e#f?g"), ("x!*'()", "[]@$,;")],
         note="every reserved character in keys and values is encoded"),
    case("query-unicode", path="/things", query=[("café", "naïve ✓"), ("tag", "Zürich")]),
    case("query-empty-values", path="/things", query=[("verbose", ""), ("attributeValue", "")],
         note="key=value with an empty value keeps the ="),
    case("query-repeated-key", path="/things",
         query=[("tag", "b"), ("tag", "a:"), ("tag", "a0"), ("tag", "a")],
         note="repeated keys are sorted by encoded value: a, a%3A, a0, b"),
    case("query-sort-by-encoded-key", path="/things",
         query=[("a0", "1"), ("a:b", "2"), ("a-b", "3"), ("a/b", "4"), ("é", "5"), ("z", "6"), ("A", "7"),
                ("a_b", "8"), ("a~", "9"), ("a", "10")],
         note="raw order differs from encoded order (a:b -> a%3Ab sorts before a-b and a0)"),
    case("unicode-path-encoded", path="/things/caf%C3%A9-%E2%9C%93/shadow",
         note="path sent percent-encoded once; canonical path is encoded again"),
    case("unicode-path-raw", path="/things/café/shadow",
         note="raw UTF-8 in the path (not recommended on the wire) is encoded once"),
    case("path-dev-colon", path="/things/dev%3A1/principals",
         note="dev:1 on the wire is dev%3A1; canonical dev%253A1"),
    case("path-double-slash", path="//things//dev-1//shadow", note="duplicate slashes are removed"),
    case("path-dot-segments", path="/things/./dev-1/../dev-2/./shadow",
         note="dot segments are removed"),
    case("path-trailing-slash", path="/things/dev-1/", note="a trailing slash is kept"),
    case("path-lowercase-hex-and-tilde", path="/things/a%2fb~c", note="%2f is re-encoded as %252f; ~ is kept"),
    case("session-token", path="/things/dev%3A1", temporary=True,
         note="X-Amz-Security-Token is sent and signed"),
    case("post-json-body", method="POST", path="/things/dev%3A1",
         headers=[("Content-Type", "application/json")], body=JSON_BODY),
    case("post-json-body-session-token", method="POST", path="/audit/configuration",
         headers=[("Content-Type", "application/json"), ("User-Agent", "fleetsim/0.1.0")],
         body='{"auditCheckConfigurations":{"LOGGING_DISABLED_CHECK":{"enabled":true}}}', temporary=True),
    case("put-empty-body", method="PUT", path="/things/dev%3A1/principals",
         headers=[("x-amzn-principal", "arn:aws:iot:eu-west-1:123456789012:cert/ab12")],
         note="empty body hashes to e3b0...b855; x-amzn-principal is signed"),
    case("delete-lowercase-method", method="delete", path="/things/dev%3A1",
         query=[("expectedVersion", "3")], note="the method is upper-cased"),
    case("header-whitespace", method="POST", path="/things/dev-1",
         headers=[("Content-Type", "  application/json ;   charset=utf-8 "),
                  ("X-Amz-Meta-Note", "\t a   b \t  c  ")],
         body="{}", note="values trimmed, inner runs of whitespace collapsed"),
    case("header-repeated", path="/things",
         headers=[("X-Amz-Meta-Tag", "one"), ("X-Amz-Meta-Tag", "  two  three ")],
         note="repeated headers are joined with a comma in order"),
    case("header-mixed-case-names", path="/things",
         headers=[("X-AMZ-Target", "Fleet.Op"), ("content-TYPE", "application/x-amz-json-1.1")]),
    case("iot-describe-endpoint", path="/endpoint", query=[("endpointType", "iot:Data-ATS")]),
    case("iot-data-publish", method="POST", path="/topics/dt%2Fdev%3A1%2Ftelemetry",
         query=[("qos", "1"), ("retain", "false")], host="data-ats.iot.eu-west-1.amazonaws.com",
         service="iotdata", headers=[("Content-Type", "application/octet-stream")],
         body='{"t":21.5,"unit":"°C"}'),
    case("sts-get-caller-identity-post", method="POST", path="/", host=STS, region="us-east-1",
         service="sts", headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         body="Action=GetCallerIdentity&Version=2011-06-15"),
    case("sts-get-caller-identity-query", path="/", host=STS, region="us-east-1", service="sts",
         query=[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]),
    case("sts-session-token", method="POST", path="/", host="sts.eu-west-1.amazonaws.com",
         region="eu-west-1", service="sts",
         headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         body="Action=GetCallerIdentity&Version=2011-06-15", temporary=True),
    case("local-emulator-port", scheme="http", host="localhost:4566", path="/things/dev%3A1",
         note="a non-default port is part of the signed host"),
    case("date-boundary", path="/things", when="2024-12-31T23:59:59Z",
         note="the scope date is the UTC date of X-Amz-Date"),
    case("leap-day", path="/things", when="2024-02-29T12:34:56Z", region="us-west-2"),
]


class _RecordingSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that keeps the canonical request and string to sign it computed inside add_auth."""

    def canonical_request(self, request):
        self.recorded_canonical_request = super().canonical_request(request)
        return self.recorded_canonical_request

    def string_to_sign(self, request, canonical_request):
        self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.recorded_string_to_sign


class _Frozen(datetime.datetime):
    now_value = None

    @classmethod
    def utcnow(cls):
        return cls.now_value


def parse_when(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def sign(c):
    creds = botocore.credentials.Credentials(ASIA, TEMP_SECRET, TOKEN) if c["temporary"] else \
        botocore.credentials.Credentials(AKID, SECRET)
    url = f'{c["scheme"]}://{c["host"]}{c["path"]}'
    wire_query = botocore.utils.percent_encode_sequence(c["query"]) if c["query"] else ""
    if wire_query:
        url += "?" + wire_query
    request = botocore.awsrequest.AWSRequest(method=c["method"], url=url, data=c["body"].encode("utf-8"))
    for name, value in c["headers"]:  # HTTPHeaders appends, so repeated names are kept
        request.headers[name] = value

    _Frozen.now_value = parse_when(c["when"])
    signer = _RecordingSigV4Auth(creds, c["service"], c["region"])
    saved = botocore.auth.datetime
    botocore.auth.datetime = types.SimpleNamespace(datetime=_Frozen)
    try:
        signer.add_auth(request)
        canonical_request = signer.recorded_canonical_request
        string_to_sign = signer.recorded_string_to_sign
        # The same canonical query string through the params route must agree with the URL route.
        assert signer._canonical_query_string_params(c["query"]) == signer.canonical_query_string(request)
    finally:
        botocore.auth.datetime = saved

    host = botocore.auth._host_from_url(url)
    assert host == c["host"], (host, c["host"])
    epoch_ms = int(parse_when(c["when"]).replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000
    out = dict(c)
    out.update(
        epoch_ms=epoch_ms,
        access_key_id=creds.access_key,
        secret_access_key=creds.secret_key,
        session_token=creds.token or "",
        target=c["path"] + ("?" + wire_query if wire_query else ""),
        wire_query=wire_query,
        signed_request_headers=[[k, v] for k, v in request.headers.items()],
        canonical_request=canonical_request,
        string_to_sign=string_to_sign,
        authorization=request.headers["Authorization"],
    )
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    document = {
        "generator": "tests/data/sigv4/generate.py",
        "botocore": botocore.__version__,
        "python": sys.version.split()[0],
        "cases": [sign(c) for c in CASES],
    }
    with open(os.path.join(here, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.join(here, 'vectors.json')}")


if __name__ == "__main__":
    main()

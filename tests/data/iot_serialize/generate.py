#!/usr/bin/python3
"""Serializes sample inputs with botocore's own rest-json serializer (Debian's python3-botocore) and
writes what goes on the wire, so fleetsim's serializer is checked against the peer it imitates.

Run: /usr/bin/python3 tests/data/iot_serialize/generate.py > tests/data/iot_serialize/vectors.json
"""
import datetime
import json

import botocore.session
from botocore import serialize

CASES = [
    ("ListViolationEvents", {"startTime": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                             "endTime": datetime.datetime(2024, 1, 3, tzinfo=datetime.timezone.utc),
                             "thingName": "dev:1", "securityProfileName": "p", "listSuppressedAlerts": True,
                             "maxResults": 250, "nextToken": "a/b+c="}),
    ("ListActiveViolations", {"behaviorCriteriaType": "MACHINE_LEARNING", "verificationState": "UNKNOWN"}),
    ("CreateSecurityProfile", {"securityProfileName": "quick start", "securityProfileDescription": "d",
                               "behaviors": [{"name": "b", "metric": "aws:num-messages-sent",
                                              "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}},
                                              "suppressAlerts": True}]}),
    ("UpdateSecurityProfile", {"securityProfileName": "p", "expectedVersion": 3, "deleteBehaviors": False}),
    ("AttachSecurityProfile", {"securityProfileName": "p",
                               "securityProfileTargetArn": "arn:aws:iot:us-east-1:123456789012:thinggroup/my group"}),
    ("DeleteSecurityProfile", {"securityProfileName": "p"}),
    ("GetBehaviorModelTrainingSummaries", {"securityProfileName": "p", "maxResults": 10}),
    ("AttachThingPrincipal", {"thingName": "dev:1",
                              "principal": "arn:aws:iot:us-east-1:123456789012:cert/abc"}),
    ("CreateKeysAndCertificate", {"setAsActive": True}),
    ("CreateThing", {"thingName": "t-01"}),
    ("AddThingToThingGroup", {"thingGroupName": "g", "thingName": "t-01"}),
    ("DescribeEndpoint", {"endpointType": "iot:Data-ATS"}),
    ("UpdateCertificate", {"certificateId": "a" * 64, "newStatus": "INACTIVE"}),
    ("StartDetectMitigationActionsTask", {"taskId": "t1", "target": {"violationIds": ["v1"]}, "actions": ["a"],
                                          "clientRequestToken": "tok",
                                          "violationEventOccurrenceRange": {
                                              "startTime": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
                                              "endTime": datetime.datetime(2024, 1, 3, tzinfo=datetime.timezone.utc)}}),
    ("ListMetricValues", {"thingName": "t-01", "metricName": "aws:num-messages-sent",
                          "startTime": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
                          "endTime": datetime.datetime(2024, 1, 2, 0, 5, tzinfo=datetime.timezone.utc)}),
]

def to_fleetsim_input(value):
    """The same input as fleetsim takes it: timestamps as epoch seconds."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_fleetsim_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_fleetsim_input(v) for v in value]
    return value

def main():
    model = botocore.session.get_session().get_service_model("iot")
    serializer = serialize.create_serializer("rest-json")
    out = []
    for name, params in CASES:
        req = serializer.serialize_to_request(params, model.operation_model(name))
        body = req["body"]
        if isinstance(body, bytes):
            body = body.decode()
        out.append({"operation": name, "input": to_fleetsim_input(params), "method": req["method"],
                    "path": req["url_path"], "query": req["query_string"],
                    "headers": {k: v for k, v in req["headers"].items() if k.lower() != "user-agent"},
                    "body": body, "botocore": botocore.__version__})
    print(json.dumps(out, indent=1, default=str))

main()

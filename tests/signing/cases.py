#!/usr/bin/env python3
"""Signing cases for tests/e2e/signing.sh, as JSON on standard output:
N of each kind (s3, gcs) with object names, times, expiries, regions and
endpoints varied from a fixed seed. Usage: cases.py N GCS_KEY_FILE."""
import json
import random
import sys

n, key_file = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261205)
pieces = ["blobs", "sha256", "a b", "plus+sign", "tilde~", "ü-é", "日本", "semi;colon", "q?mark",
          "hash#", "pct%41", "amp&", "eq=", "star*", "paren(x)", "bang!", "quote'", "comma,", "at@", "dollar$"]
regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1"]
cases = []
for i in range(n):
    obj = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) + "/%064x" % rng.getrandbits(256)
    when = rng.randint(1_600_000_000, 1_900_000_000)
    expires = rng.choice([1, 60, 300, 3600, 86400, 604800])
    bucket = "nixery-%d" % rng.randint(1, 999)
    region = rng.choice(regions)
    if i % 2:
        # An S3-compatible server, addressed by path (MinIO, Ceph, s3rver).
        port = rng.choice([4569, 9000, 443])
        authority = "127.0.0.1:%d" % port if port != 443 else "127.0.0.1"
        cases.append({"kind": "s3", "scheme": "http" if port != 443 else "https", "host": authority,
                      "authority": authority,
                      "bucket": bucket, "object": obj, "when": when, "expires": expires,
                      "region": region, "access_key": "AKIA%012d" % i,
                      # R2's secrets are 64 characters long.
                      "secret_key": "%064x" % rng.getrandbits(256) if i % 4 == 1 else "s3cr3t/%d+Key" % i,
                      "query": {"x-amz-checksum-mode": "ENABLED", "x-id": "GetObject"}})
    else:
        # AWS itself, the bucket in the host name.
        host = "%s.s3.%s.amazonaws.com" % (bucket, region)
        cases.append({"kind": "s3", "scheme": "https", "host": host, "authority": host, "bucket": None,
                      "object": obj, "when": when, "expires": expires, "region": region,
                      "access_key": "AKIA%012d" % i, "secret_key": "s3cr3t/%d+Key" % i,
                      "query": {"x-amz-checksum-mode": "ENABLED", "x-id": "GetObject"}})
for i in range(n):
    obj = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) + "/%064x" % rng.getrandbits(256)
    cases.append({"kind": "gcs", "scheme": "https", "host": "storage.googleapis.com", "authority": None,
                  "bucket": "nixery-%d" % rng.randint(1, 999), "object": obj,
                  "when": rng.randint(1_600_000_000, 1_900_000_000),
                  "expires": rng.choice([1, 60, 300, 3600, 86400, 604800]), "key_file": key_file, "query": {}})
json.dump(cases, sys.stdout)

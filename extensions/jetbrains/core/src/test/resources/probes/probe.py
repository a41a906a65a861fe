# A Python program standing in for a user's service: prints the target's DEMO_GREETING, the first
# line of a file only the target has and the answer of a service only the target reaches.
import os
import sys
import urllib.request

print(f"env={os.environ.get('DEMO_GREETING')}")
try:
    with open(sys.argv[1]) as f:
        print(f"file={f.read().strip().splitlines()[0]}")
except OSError as e:
    print(f"file=error: {e}")
try:
    with urllib.request.urlopen(sys.argv[2], timeout=20) as answer:
        print(f"http={answer.read().decode().strip()}")
except Exception as e:
    print(f"http=error: {e}")
sys.stdout.flush()

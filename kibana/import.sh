#!/bin/sh
# Imports kibana/saved_objects.ndjson into Kibana; safe to run any number of times (fixed ids, overwrite=true).
# Exits non-zero when Kibana does not become available in time or when the import reports "success":false
# (Kibana answers HTTP 200 even when objects fail, e.g. on a missing reference).
#
# Environment: KIBANA_URL (default http://kibana:5601), KIBANA_USERNAME (default elastic), KIBANA_PASSWORD
# (or ELASTIC_PASSWORD), SAVED_OBJECTS (default: saved_objects.ndjson next to this script),
# KIBANA_WAIT_ATTEMPTS (default 60) and KIBANA_WAIT_SECONDS (default 5) bound the wait for Kibana,
# KIBANA_DEFAULT_DATA_VIEW (default mlmon-inference; empty: leave the default data view alone).
set -eu

KB="${KIBANA_URL:-http://kibana:5601}"
KB="${KB%/}"
USER_NAME="${KIBANA_USERNAME:-elastic}"
PASSWORD="${KIBANA_PASSWORD:-${ELASTIC_PASSWORD:-}}"
FILE="${SAVED_OBJECTS:-$(dirname "$0")/saved_objects.ndjson}"
ATTEMPTS="${KIBANA_WAIT_ATTEMPTS:-60}"
PAUSE="${KIBANA_WAIT_SECONDS:-5}"
DEFAULT_VIEW="${KIBANA_DEFAULT_DATA_VIEW-mlmon-inference}"

if [ -z "$PASSWORD" ]; then
  echo "import.sh: set KIBANA_PASSWORD (or ELASTIC_PASSWORD) for user $USER_NAME" >&2
  exit 2
fi
if [ ! -r "$FILE" ]; then
  echo "import.sh: cannot read $FILE" >&2
  exit 2
fi

kb() {  # kb METHOD PATH [curl args...]: prints the body; the HTTP status goes to $TMP_STATUS
  method="$1"; path="$2"; shift 2
  curl -sS --max-time 60 -u "$USER_NAME:$PASSWORD" -H 'kbn-xsrf: true' -X "$method" \
    -o "$TMP_BODY" -w '%{http_code}' "$@" "$KB$path" >"$TMP_STATUS" 2>"$TMP_ERR" || true
  cat "$TMP_BODY" 2>/dev/null || true
}

TMP_DIR="$(mktemp -d)"
TMP_BODY="$TMP_DIR/body"; TMP_STATUS="$TMP_DIR/status"; TMP_ERR="$TMP_DIR/err"
trap 'rm -rf "$TMP_DIR"' EXIT

echo "waiting for Kibana at $KB (at most $ATTEMPTS attempts, ${PAUSE}s apart)"
n=0
while :; do
  n=$((n + 1))
  status_body="$(kb GET /api/status)"
  if printf '%s' "$status_body" | grep -q '"level":"available"'; then
    break
  fi
  if [ "$n" -ge "$ATTEMPTS" ]; then
    echo "import.sh: Kibana not available after $n attempts (last HTTP $(cat "$TMP_STATUS"): $(cat "$TMP_ERR"))" >&2
    exit 1
  fi
  sleep "$PAUSE"
done

echo "importing $FILE"
resp="$(kb POST '/api/saved_objects/_import?overwrite=true' -F "file=@$FILE;type=application/ndjson")"
code="$(cat "$TMP_STATUS")"
echo "HTTP $code: $resp"
if [ "$code" != "200" ]; then
  echo "import.sh: import failed with HTTP $code $(cat "$TMP_ERR")" >&2
  exit 1
fi
if ! printf '%s' "$resp" | grep -q '"success":true'; then
  echo "import.sh: Kibana reported errors for the import (see the response above)" >&2
  exit 1
fi

if [ -n "$DEFAULT_VIEW" ]; then
  # Nice to have: Discover opens on the inference log. Not fatal, the import itself succeeded.
  kb POST /api/data_views/default -H 'Content-Type: application/json' \
    -d "{\"data_view_id\":\"$DEFAULT_VIEW\",\"force\":true}" >/dev/null
  if [ "$(cat "$TMP_STATUS")" != "200" ]; then
    echo "import.sh: warning: could not set the default data view (HTTP $(cat "$TMP_STATUS"))" >&2
  fi
fi
echo "import.sh: saved objects imported"

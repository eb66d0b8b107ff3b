#!/bin/sh
# One-shot Elasticsearch setup for the compose stack; idempotent (every call overwrites the same objects).
#   1. sets the password of the built-in kibana_system user (Kibana refuses to run as `elastic`);
#   2. creates the role `mlmon_writer` and the user MLMON_STORE_USERNAME for mlmon's services, so that they
#      do not run as the superuser: they may create, write, read and delete only mlmon-* indices and
#      manage the index template.
# Environment: ES_URL (default http://elasticsearch:9200), ELASTIC_PASSWORD, KIBANA_SYSTEM_PASSWORD,
# MLMON_STORE_USERNAME (default mlmon), MLMON_STORE_PASSWORD; ES_WAIT_ATTEMPTS / ES_WAIT_SECONDS bound the wait.
# Passwords go into JSON bodies verbatim: use letters, digits and - _ . only.
set -eu

ES="${ES_URL:-http://elasticsearch:9200}"
ES="${ES%/}"
: "${ELASTIC_PASSWORD:?ELASTIC_PASSWORD is required}"
: "${KIBANA_SYSTEM_PASSWORD:?KIBANA_SYSTEM_PASSWORD is required}"
: "${MLMON_STORE_PASSWORD:?MLMON_STORE_PASSWORD is required}"
MLMON_USER="${MLMON_STORE_USERNAME:-mlmon}"
ATTEMPTS="${ES_WAIT_ATTEMPTS:-60}"
PAUSE="${ES_WAIT_SECONDS:-2}"

for secret in "$KIBANA_SYSTEM_PASSWORD" "$MLMON_STORE_PASSWORD"; do
  case "$secret" in
    *[!A-Za-z0-9._-]*) echo "es_setup.sh: passwords may contain only letters, digits and - _ ." >&2; exit 2 ;;
  esac
done

es() {  # es METHOD PATH BODY: fails unless Elasticsearch answers 2xx
  out="$(curl -sS --max-time 30 -u "elastic:$ELASTIC_PASSWORD" -H 'Content-Type: application/json' \
    -X "$1" "$ES$2" -d "$3" -w '\n%{http_code}')" || { echo "es_setup.sh: $1 $2: no answer" >&2; return 1; }
  code="$(printf '%s' "$out" | tail -n 1)"
  case "$code" in
    2??) echo "$1 $2 -> $code" ;;
    *) echo "es_setup.sh: $1 $2 -> $code: $(printf '%s' "$out" | sed '$d')" >&2; return 1 ;;
  esac
}

n=0
until curl -fsS --max-time 10 -u "elastic:$ELASTIC_PASSWORD" \
    "$ES/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null 2>&1; do
  n=$((n + 1))
  if [ "$n" -ge "$ATTEMPTS" ]; then
    echo "es_setup.sh: Elasticsearch at $ES not ready after $n attempts" >&2
    exit 1
  fi
  sleep "$PAUSE"
done

es POST /_security/user/kibana_system/_password "{\"password\":\"$KIBANA_SYSTEM_PASSWORD\"}"
es PUT /_security/role/mlmon_writer '{
  "cluster": ["monitor", "manage_index_templates"],
  "indices": [{"names": ["mlmon-*"],
               "privileges": ["create_index", "delete_index", "write", "read", "view_index_metadata",
                              "manage"]}]
}'
es PUT "/_security/user/$MLMON_USER" \
  "{\"password\":\"$MLMON_STORE_PASSWORD\",\"roles\":[\"mlmon_writer\"],\"full_name\":\"mlmon services\"}"
echo "es_setup.sh: done"

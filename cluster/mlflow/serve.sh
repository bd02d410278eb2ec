#!/usr/bin/env bash
# Start the shared MLflow tracking server: PostgreSQL backend store, artifacts in S3,
# served through the tracking server (clients need no S3 credentials: mlflow-artifacts:/).
#
# Settings come from the environment, never from the command line (argv is visible to
# every user of the machine in `ps`):
#   MLFLOW_BACKEND_STORE_URI      required, e.g. postgresql+psycopg2://mlflow:PASSWORD@db:5432/mlflow
#                                 (MLflow 3.17 maps plain postgresql:// to psycopg 3)
#   MLFLOW_ARTIFACTS_DESTINATION  required, e.g. s3://my-bucket/mlflow
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or an instance/pod role); MLFLOW_S3_ENDPOINT_URL
#                                 or AWS_ENDPOINT_URL for an S3 API other than AWS
#   MLFLOW_HOST   address to bind (default 127.0.0.1; 0.0.0.0 only behind a proxy/Service)
#   MLFLOW_PORT   default 5000;  MLFLOW_WORKERS  default 2;  MLFLOW  the mlflow executable
# Example (one machine):
#   export MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://mlflow:…@127.0.0.1:5432/mlflow
#   export MLFLOW_ARTIFACTS_DESTINATION=s3://ncsweep/mlflow
#   cluster/mlflow/serve.sh      # then: ncsweep sweep --tracking-uri http://127.0.0.1:5000
set -euo pipefail

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (postgresql+psycopg2://user:password@host:port/db)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (s3://bucket/prefix)}"
case "$MLFLOW_ARTIFACTS_DESTINATION" in
  s3://*) ;;
  *) echo "MLFLOW_ARTIFACTS_DESTINATION must be s3://bucket/prefix, got: $MLFLOW_ARTIFACTS_DESTINATION" >&2; exit 2 ;;
esac
export MLFLOW_BACKEND_STORE_URI MLFLOW_ARTIFACTS_DESTINATION

# Nothing calls home; the background job runner (extra processes) is not needed for tracking.
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"
export DO_NOT_TRACK="${DO_NOT_TRACK:-1}"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

exec "${MLFLOW:-mlflow}" server \
  --serve-artifacts \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-2}"

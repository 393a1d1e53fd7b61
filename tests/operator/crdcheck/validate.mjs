// Validate Kubernetes objects (a JSON array on stdin) against the validators
// that @kubernetes-models generates from the published CRDs (CloudNativePG,
// cert-manager, Gateway API, prometheus-operator). Prints one line
// per object, "ok KIND/NAME" or "invalid KIND/NAME: reason"; exits 1 if any is invalid.
import * as certManager from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as cnpg from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";
import * as gatewayApi from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as prometheus from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = {
  "cert-manager.io/v1": certManager,
  "gateway.networking.k8s.io/v1": gatewayApi,
  "monitoring.coreos.com/v1": prometheus,
  "postgresql.cnpg.io/v1": cnpg,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const obj of JSON.parse(input)) {
  const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const group = MODELS[obj.apiVersion];
  if (!group || !group[obj.kind]) {
    console.log(`invalid ${name}: no published schema for ${obj.apiVersion} ${obj.kind}`);
    failed = true;
    continue;
  }
  try {
    new group[obj.kind](obj).validate();
    console.log(`ok ${name}`);
  } catch (err) {
    console.log(`invalid ${name}: ${String(err.message).replace(/\n/g, " ")}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

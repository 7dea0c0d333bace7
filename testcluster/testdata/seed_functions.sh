# Shell functions copied verbatim from the Registry Svc seed document (the
# user's specification), where they call the CLI as `oo`. The tests define
# oo() as the roster binary and run them against a real cluster.

monitor_instances() {
while true; do
echo "=== Instance Health Status $(date) ==="
oo get /registry-svc/instances | jq -r '.instances[] | "\(.slug // "N/A") \(.url) \(.status)"' | \
while read -r slug url status; do
case $status in
"Healthy") echo "✅ $slug ($url)" ;;
"Unhealthy") echo "❌ $slug ($url)" ;;
"Starting") echo "🔄 $slug ($url)" ;;
"Stopping") echo "⏹️ $slug ($url)" ;;
*) echo "❓ $slug ($url) - $status" ;;
esac
done
echo "---"
sleep 10
done
}

get_node_resources() {
oo get /registry-svc/node/self | jq '{
id: .node.id,
url: .node.url,
region: .node.region,
availabilityZone: .node.availabilityZone,
cpu: .node.usage.cpu,
memory: .node.usage.memory,
disk: .node.usage.disk,
gpus: .node.gpus | length
}'
}

monitor_cluster_resources() {
echo "=== Cluster Resource Usage ==="
oo post /registry-svc/nodes | jq -r '.nodes[] |
"\(.id) CPU:\(.usage.cpu.percent)% MEM:\(.usage.memory.percent)% DISK:\(.usage.disk.percent)% GPUs:\(.gpus | length)"'
}

find_available_gpus() {
oo post /registry-svc/nodes | jq -r '.nodes[] |
select(.gpus | length > 0) |
.gpus[] |
select(.gpuUtilization < 50) |
"\(.name) (\(.memoryUsage)MB/\(.memoryTotal)MB used)"'
}

setup_dev_services() {
# Register local development services
oo put /registry-svc/instance \
--url="http://localhost:3001" \
--tags='["dev", "user-service"]'
oo put /registry-svc/instance \
--url="http://localhost:3002" \
--tags='["dev", "product-service"]'
oo put /registry-svc/instance \
--url="http://localhost:3003" \
--tags='["dev", "order-service"]'
}
# Staging environment
setup_staging_services() {
oo put /registry-svc/instance \
--url="http://staging-user-svc:8080" \
--tags='["staging", "user-service"]'
oo put /registry-svc/instance \
--url="http://staging-product-svc:8080" \
--tags='["staging", "product-service"]'
oo put /registry-svc/instance \
--url="http://staging-order-svc:8080" \
--tags='["staging", "order-service"]'
}

monitor_service_health() {
while true; do
echo "=== Service Health Report $(date) ==="
# Get all instances
instances=$(oo get /registry-svc/instances)
# Group by service slug
echo "$instances" | jq -r '.instances[] | .slug // "unknown"' | sort | uniq | \
while read -r service; do
if [ "$service" != "unknown" ] && [ "$service" != "null" ]; then
echo "Service: $service"
# Count instances by status
healthy=$(echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\" and .status == \"Healthy\") | .id" | wc -l)
unhealthy=$(echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\" and .status == \"Unhealthy\") | .id" | wc -l)
total=$(echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\") | .id" | wc -l)
echo " Healthy: $healthy/$total"
if [ "$unhealthy" -gt 0 ]; then
echo " ⚠️ Unhealthy instances:"
echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\" and .status == \"Unhealthy\") | \" - \(.id) (\(.url))\""
fi
# Test actual connectivity
test_url=$(echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\" and .status == \"Healthy\") | .url" | head -1)
if [ "$test_url" != "null" ] && [ -n "$test_url" ]; then
if curl -fsSL --max-time 5 "$test_url/health" > /dev/null 2>&1; then
echo " ✅ Health check passed"
else
echo " ❌ Health check failed"
fi
fi
echo ""
fi
done
sleep 30
done
}

monitor_service_mesh() {
echo "=== Service Mesh Topology ==="
# Get all services and their instances
oo get /registry-svc/instances | jq -r '
.instances[] |
select(.slug != null) |
"\(.slug) \(.url) \(.status) \(.nodeUrl // "unknown")"' | \
while read -r service url status node; do
node_short=$(echo "$node" | sed 's|http://||' | cut -d: -f1)
echo "$service -> $url [$status] on $node_short"
done
echo ""
echo "=== Node Distribution ==="
# Show service distribution across nodes
oo post /registry-svc/nodes | jq -r '.nodes[] | .url' | \
while read -r node_url; do
node_short=$(echo "$node_url" | sed 's|http://||' | cut -d: -f1)
instance_count=$(oo get /registry-svc/instances | jq -r ".instances[] | select(.nodeUrl == \"$node_url\") | .slug" | wc -l)
echo "$node_short: $instance_count instances"
done
}

deploy_blue_green() {
local service_name=$1
local new_version=$2
echo "Starting blue-green deployment for $service_name:$new_version"
# Deploy green version
oo put /registry-svc/instance \
--url="http://$service_name-green:8080" \
--tags='["green", "staging"]'
# Test green version
if curl -f "http://$service_name-green:8080/health"; then
echo "Green version healthy, switching traffic"
# Remove blue instances
blue_instances=$(oo get /registry-svc/instances | \
jq -r ".instances[] | select(.tags[]? == \"blue\") | .id")
for instance_id in $blue_instances; do
oo instances remove "$instance_id"
done
# Promote green to blue
oo put /registry-svc/instance \
--url="http://$service_name:8080" \
--tags='["blue", "production"]'
echo "Blue-green deployment completed"
else
echo "Green version unhealthy, aborting deployment"
return 1
fi
}

registry_dashboard() {
while true; do
clear
echo "╔══════════════════════════════════════════════════════════════╗"
echo "║ Registry Svc Dashboard ║"
echo "╚══════════════════════════════════════════════════════════════╝"
echo ""
# Cluster overview
echo "📊 Cluster Overview:"
node_count=$(oo post /registry-svc/nodes | jq '.nodes | length')
instance_count=$(oo get /registry-svc/instances | jq '.instances | length')
definition_count=$(oo get /registry-svc/definitions | jq '.definitions | length')
echo " Nodes: $node_count"
echo " Instances: $instance_count"
echo " Definitions: $definition_count"
echo ""
# Instance health summary
echo "🏥 Instance Health:"
instances=$(oo get /registry-svc/instances)
healthy=$(echo "$instances" | jq '[.instances[] | select(.status == "Healthy")] | length')
unhealthy=$(echo "$instances" | jq '[.instances[] | select(.status == "Unhealthy")] | length')
unknown=$(echo "$instances" | jq '[.instances[] | select(.status == "Unknown")] | length')
echo " ✅ Healthy: $healthy"
echo " ❌ Unhealthy: $unhealthy"
echo " ❓ Unknown: $unknown"
echo ""
# Service distribution
echo "🔀 Service Distribution:"
echo "$instances" | jq -r '.instances[] | .slug // "unknown"' | sort | uniq -c | \
while read -r count service; do
echo " $service: $count instances"
done
echo ""
# Node resource usage
echo "💾 Node Resources:"
oo post /registry-svc/nodes | jq -r '.nodes[] |
"\(.id): CPU \(.usage.cpu.percent // 0)% | Memory \(.usage.memory.percent // 0)% | GPUs \(.gpus | length)"'
echo ""
echo "Last updated: $(date)"
echo "Press Ctrl+C to exit"
sleep 5
done
}

cleanup_dead_instances() {
echo "🧹 Cleaning up dead instances..."
instances=$(oo get /registry-svc/instances)
echo "$instances" | jq -r '.instances[] | "\(.id) \(.url) \(.status)"' | \
while read -r id url status; do
if [ "$status" = "Unhealthy" ]; then
# Test if instance is truly dead
if ! curl -fsSL --max-time 5 "$url/health" > /dev/null 2>&1; then
echo "Removing dead instance: $id ($url)"
oo instances remove "$id"
else
echo "Instance $id recovered: $url"
fi
fi
done
}

map_service_dependencies() {
echo "🗺️ Service Dependency Map:"
# Get all service instances
instances=$(oo get /registry-svc/instances)
echo "$instances" | jq -r '.instances[] | select(.slug != null) | .slug' | sort | uniq | \
while read -r service; do
echo ""
echo "Service: $service"
# Find instances
service_instances=$(echo "$instances" | jq -r ".instances[] | select(.slug == \"$service\") | .url")
echo " Instances:"
echo "$service_instances" | while read -r url; do
echo " - $url"
done
# Test external dependencies (simplified - would need service-specific logic)
echo " Dependencies:"
for dependency in "database" "redis" "elasticsearch"; do
if echo "$service_instances" | head -1 | xargs -I {} curl -fsSL --max-time 3 {}/dependencies 2>/dev/null | grep -q "$dependency"; then
echo " - $dependency ✅"
fi
done
done
}

test_node_connectivity() {
local node_url=$1
echo "Testing node: $node_url"
# Basic HTTP connectivity
if curl -fsSL --max-time 5 "$node_url/health" > /dev/null; then
echo "✅ Node responds"
else
echo "❌ Node not responding"
fi
# Registry API access
if curl -fsSL --max-time 5 "$node_url/registry-svc/node/self" > /dev/null; then
echo "✅ Registry API accessible"
else
echo "❌ Registry API failed"
fi
}


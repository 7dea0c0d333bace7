# cleanup_dead_instances as the seed first defines it (by node URL), verbatim;
# the seed later redefines it by status, which seed_functions.sh holds.
cleanup_dead_instances() {
local dead_node_url=$1
echo "Cleaning up instances from dead node: $dead_node_url"
# Find instances on the dead node
dead_instances=$(oo get /registry-svc/instances | \
jq -r ".instances[] | select(.nodeUrl == \"$dead_node_url\") | .id")
# Remove each instance
for instance_id in $dead_instances; do
echo "Removing instance: $instance_id"
oo instances remove "$instance_id"
done
}

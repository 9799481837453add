/** Removes the nodes no graph output depends on (after a fusion replaced what read them). */
import type { GraphProto, NodeProto } from '@kiln/onnx';

export function removeDeadNodes(graph: GraphProto): number {
  const nodes = graph.node ?? [];
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) for (const out of node.output ?? []) producer.set(out, node);
  const live = new Set<NodeProto>();
  const pending = (graph.output ?? []).map((o) => o.name ?? '');
  while (pending.length) {
    const node = producer.get(pending.pop() as string);
    if (!node || live.has(node)) continue;
    live.add(node);
    for (const input of node.input ?? []) if (input) pending.push(input);
  }
  graph.node = nodes.filter((n) => live.has(n));
  return nodes.length - graph.node.length;
}

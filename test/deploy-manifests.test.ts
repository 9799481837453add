/**
 * deploy/kubernetes, checked offline: every object against the JSON schemas of its kind that
 * `kubernetes-models` (Kubernetes 1.x core and apps) and `@kubernetes-models/keda` (KEDA's CRDs)
 * bundle, plus what the schemas cannot know: the Deployments' selectors match their pods, the
 * worker asks for a GPU and has a drain grace period, the ScaledObject targets the worker, the API
 * stays ready with no worker. (That the ScaledObject's metric is exported: test/fleet.e2e.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const DIR = path.resolve(import.meta.dirname, '../deploy/kubernetes');

interface Validatable {
  validate(): void;
}
type Model = new (data: any) => Validatable;

const KINDS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

const objects = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((doc) => {
      expect(doc.errors, file).toEqual([]);
      return { file, object: doc.toJS() as any };
    }),
  );
const find = (kind: string, name: string) =>
  objects.find((o) => o.object.kind === kind && o.object.metadata.name === name)?.object;

describe('deploy/kubernetes', () => {
  it('has the API, the worker and the KEDA ScaledObject', () => {
    expect(find('Deployment', 'kiln-api')).toBeDefined();
    expect(find('Service', 'kiln-api')).toBeDefined();
    expect(find('Deployment', 'kiln-worker')).toBeDefined();
    expect(find('ScaledObject', 'kiln-worker-sd15')).toBeDefined();
  });

  it.each(objects.map((o) => [`${o.file}: ${o.object.kind} ${o.object.metadata?.name}`, o.object]))(
    '%s is valid against its schema',
    (_name, object) => {
      const model = KINDS[`${object.apiVersion}/${object.kind}`];
      expect(model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new model(object).validate()).not.toThrow();
    },
  );

  it('the schema check catches a broken manifest', () => {
    const worker = structuredClone(find('Deployment', 'kiln-worker'));
    worker.spec.replicas = 'two';
    expect(() => new Deployment(worker).validate()).toThrow(/replicas must be integer/);
    const scaled = structuredClone(find('ScaledObject', 'kiln-worker-sd15'));
    delete scaled.spec.triggers[0].type;
    expect(() => new ScaledObject(scaled).validate()).toThrow(/type/);
  });

  it('Deployments select their own pods; Services select pods that exist', () => {
    for (const { object } of objects.filter((o) => o.object.kind === 'Deployment')) {
      expect(object.spec.template.metadata.labels).toMatchObject(object.spec.selector.matchLabels);
    }
    for (const { object } of objects.filter((o) => o.object.kind === 'Service')) {
      const pods = objects
        .filter((o) => o.object.kind === 'Deployment')
        .map((o) => o.object.spec.template.metadata.labels);
      expect(pods.some((labels) => Object.entries(object.spec.selector).every(([k, v]) => labels[k] === v))).toBe(true);
    }
  });

  it('the worker asks for a GPU, runs CUDA without fall-back and has time to drain', () => {
    const pod = find('Deployment', 'kiln-worker').spec.template.spec;
    const container = pod.containers[0];
    expect(container.resources.requests['nvidia.com/gpu']).toBe(1);
    expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(container.env).toContainEqual({ name: 'KILN_EXECUTION_PROVIDER', value: 'cuda' });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(300);
  });

  it('the API stays ready while workers are scaled to zero (readiness on /healthz, not /readyz)', () => {
    const container = find('Deployment', 'kiln-api').spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
  });

  it('the ScaledObject scales the worker Deployment from zero on the Prometheus backlog query', () => {
    const spec = find('ScaledObject', 'kiln-worker-sd15').spec;
    expect(spec.scaleTargetRef.name).toBe('kiln-worker');
    expect(spec.minReplicaCount).toBe(0);
    const trigger = spec.triggers[0];
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toContain('kiln_backlog_worker_seconds');
    expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
  });
});

/**
 * Try a prompt: a form with every field of POST /generate/sd and /generate/sd3, built from the
 * API's OpenAPI document (request-form.ts), submitted asynchronously; the job page then shows it run.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { ErrorNote } from '../components/ui.js';
import { navigate } from '../hooks.js';
import { allowedSizes, formFields, requestBody, type FieldSpec, type JsonSchema } from '../request-form.js';

const ENGINES = { sd: '/generate/sd', sd3: '/generate/sd3' } as const;
type Engine = keyof typeof ENGINES;

interface OpenApi {
  paths: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } } }>;
  components: { schemas: Record<string, JsonSchema> };
}

function requestSchema(doc: OpenApi, path: string): JsonSchema {
  const ref = doc.paths[path]?.post?.requestBody?.content?.['application/json']?.schema?.$ref ?? '';
  const schema = doc.components.schemas[ref.replace('#/components/schemas/', '')];
  if (!schema) throw new Error(`the OpenAPI document has no request schema for ${path}`);
  return schema;
}

export function TryPage() {
  const [doc, setDoc] = useState<OpenApi | undefined>(undefined);
  const [loadError, setLoadError] = useState<Error | undefined>(undefined);
  const [engine, setEngine] = useState<Engine>('sd');
  useEffect(() => {
    api<OpenApi>('openapi.json').then(setDoc, setLoadError);
  }, []);
  return (
    <div class="page">
      <h1>Try a prompt</h1>
      <ErrorNote error={loadError} />
      <label class="inline">
        Engine{' '}
        <select
          name="engine"
          value={engine}
          onChange={(e) => setEngine((e.target as HTMLSelectElement).value as Engine)}
        >
          <option value="sd">Stable Diffusion 1.5 (/generate/sd)</option>
          <option value="sd3">SD3 Medium (/generate/sd3)</option>
        </select>
      </label>
      {doc && <RequestForm key={engine} path={ENGINES[engine]} schema={requestSchema(doc, ENGINES[engine])} />}
    </div>
  );
}

function RequestForm({ path, schema }: { path: string; schema: JsonSchema }) {
  const fields = formFields(schema);
  const sizes = allowedSizes(schema);
  const [values, setValues] = useState<Record<string, string>>({});
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const set = (name: string, value: string) => setValues((v) => ({ ...v, [name]: value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    setFailure(undefined);
    const { body, errors } = requestBody(fields, values);
    setFieldErrors(Object.fromEntries(errors.map((e) => [e.field, e.message])));
    if (errors.length > 0) return;
    setBusy(true);
    try {
      const accepted = await api<{ response_id: string }>(path.slice(1), {
        method: 'POST',
        body,
        headers: { 'x-octoai-async': '1' },
      });
      navigate(`jobs/${encodeURIComponent(accepted.response_id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.field) setFieldErrors({ [err.field]: err.message });
      setFailure(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const control = (f: FieldSpec) => (
    <Field
      key={f.name}
      field={f}
      value={values[f.name] ?? ''}
      error={fieldErrors[f.name]}
      onChange={(v) => set(f.name, v)}
    />
  );

  return (
    // noValidate: the API is the one judge of a request (its 422 names the field and is shown there);
    // the inputs' min/max only guide the spinners.
    <form class="card request-form" onSubmit={submit} data-path={path} noValidate>
      {sizes.length > 0 && (
        <label>
          size
          <select
            name="size"
            onChange={(e) => {
              const [w, h] = (e.target as HTMLSelectElement).value.split('x');
              setValues((v) => ({ ...v, width: w ?? '', height: h ?? '' }));
            }}
          >
            <option value="">(default)</option>
            {sizes.map((s) => (
              <option value={`${s.width}x${s.height}`}>
                {s.width} × {s.height}
              </option>
            ))}
          </select>
        </label>
      )}
      <div class="fields">{fields.filter((f) => f.basic).map(control)}</div>
      <details>
        <summary>Every other field ({fields.filter((f) => !f.basic).length})</summary>
        <div class="fields">{fields.filter((f) => !f.basic).map(control)}</div>
      </details>
      <button type="submit" disabled={busy}>
        Generate
      </button>
      <ErrorNote error={failure} />
    </form>
  );
}

/** A chosen file as base64, as the API takes images. */
function base64Of(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error ?? new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

function Field({
  field,
  value,
  error,
  onChange,
}: {
  field: FieldSpec;
  value: string;
  error?: string;
  onChange: (value: string) => void;
}) {
  const placeholder = field.default === undefined ? '' : `default ${JSON.stringify(field.default)}`;
  const common = { name: field.name, id: `field-${field.name}`, 'data-field': field.name, title: field.description };
  const onInput = (e: Event) => onChange((e.target as HTMLInputElement).value);
  let input;
  switch (field.kind) {
    case 'prompt':
      input = <textarea {...common} rows={3} value={value} onInput={onInput} placeholder={placeholder} />;
      break;
    case 'boolean':
      input = (
        <select {...common} value={value} onChange={onInput}>
          <option value="">{placeholder || '(not given)'}</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      );
      break;
    case 'choice':
      input = (
        <select {...common} value={value} onChange={onInput}>
          <option value="">{placeholder || '(not given)'}</option>
          {field.options?.map((o) => (
            <option value={o}>{o}</option>
          ))}
        </select>
      );
      break;
    case 'integer':
    case 'number':
      input = (
        <input
          {...common}
          type="number"
          min={field.min}
          max={field.max}
          step={field.step ?? 'any'}
          value={value}
          onInput={onInput}
          placeholder={placeholder}
        />
      );
      break;
    case 'image':
      input = (
        <input
          {...common}
          type="file"
          accept="image/png,image/jpeg,image/webp"
          multiple={field.multiple}
          onChange={async (e) => {
            const files = [...((e.target as HTMLInputElement).files ?? [])];
            onChange((await Promise.all(files.map(base64Of))).join('\n'));
          }}
        />
      );
      break;
    case 'json':
      input = <textarea {...common} rows={2} value={value} onInput={onInput} placeholder='{"name": 0.8}' />;
      break;
    case 'oneOrList':
      input = (
        <input
          {...common}
          type="text"
          value={value}
          onInput={onInput}
          placeholder={
            field.name === 'seed' ? 'random; 42, or 1,2,null' : `${placeholder || field.itemType}; or a list: a,b`
          }
        />
      );
      break;
    case 'list':
      input = (
        <input
          {...common}
          type="text"
          value={value}
          onInput={onInput}
          placeholder={field.options ? field.options.join(', ') : placeholder}
        />
      );
      break;
    default:
      input = <input {...common} type="text" value={value} onInput={onInput} placeholder={placeholder} />;
  }
  return (
    <label class={`field field-${field.kind}${error ? ' has-error' : ''}`}>
      <span class="field-name">
        {field.name}
        {field.required && ' *'}
      </span>
      {input}
      {error && (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
      <span class="field-help">{field.description}</span>
    </label>
  );
}

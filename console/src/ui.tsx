import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call } from './api';
import type { PagedSearch } from './url-state';

/** Shared pieces of every page. Everything from the API is rendered as text (JSX children), never as HTML. */

export function messageOf(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * Runs `fn` now and whenever `deps` (the values `fn` reads) change; keeps the last data while reloading. Only the
 * latest call's answer is kept, so a slow earlier reply cannot overwrite a newer one.
 */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const run = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await fn();
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (mine === seq.current) setError(messageOf(e));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, deps);
  useEffect(() => {
    void run();
  }, [run]);
  return { data, error, loading, reload: run };
}

/** Loads a page's data again; says so while it does. */
export function RefreshButton({ load, name = 'refresh' }: { load: Loaded<unknown>; name?: string }) {
  return (
    <button type="button" onClick={() => void load.reload()} disabled={load.loading} data-action={name}>
      {load.loading ? 'Refreshing…' : 'Refresh'}
    </button>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="busy" role="status" aria-live="polite">
      <span class="spin" aria-hidden="true" /> {label}
    </p>
  );
}

export function ErrorNote({ error }: { error: string | null | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

/**
 * A form's note of its last success ("Saved.", "Created alice.", a test send's message ID with its link), true only
 * of what the form shows now.
 */
export interface SaveNote {
  text: ComponentChildren;
  /**
   * Runs a save (or create, send, change) whose answer is the note. The last note goes as it starts, so a failure
   * shows only its error (the Action's), and a save answered after an edit or a newer save shows nothing: the form no
   * longer shows what it saved. Resolves true when its note is the one shown (false: an edit came first).
   */
  run: (save: () => Promise<ComponentChildren>) => Promise<boolean>;
  /** Wraps a field's setter: an edit drops the note, which would otherwise call unsaved values saved. */
  edit: <T>(set: (v: T) => void) => (v: T) => void;
}

export function useSaveNote(): SaveNote {
  const [text, setText] = useState<ComponentChildren>(null);
  const seq = useRef(0);
  const drop = () => {
    seq.current++;
    setText(null);
  };
  return {
    text,
    run: async (save) => {
      drop();
      const mine = seq.current;
      const note = await save();
      if (mine !== seq.current) return false;
      setText(note);
      return true;
    },
    edit: (set) => (v) => {
      set(v);
      drop();
    },
  };
}

export function SaveNoteView({ note }: { note: SaveNote }) {
  return note.text ? <Notice>{note.text}</Notice> : null;
}

/** Shows a loader's state: a spinner the first time, its error, then the content. */
export function LoadState<T>({ load, children }: { load: Loaded<T>; children: (d: T) => ComponentChildren }) {
  if (load.data === null && load.loading) return <Spinner />;
  return (
    <>
      <ErrorNote error={load.error} />
      {load.data !== null ? children(load.data) : null}
    </>
  );
}

/** A button that runs an async action, shows progress while it waits and the API's text if it fails. */
export function Action(props: {
  onRun: () => Promise<unknown>;
  children: ComponentChildren;
  busyLabel?: string;
  kind?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
  name?: string;
  /**
   * The submit button of its form: Enter in one of the form's fields clicks it (the browser's implicit submission),
   * so it runs as a click does, and not while it is disabled or busy. Its form must prevent the submission itself,
   * and set noValidate so the gateway's refusal is what is shown, not the browser's own bubble.
   */
  submit?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onRun();
    } catch (e) {
      if (alive.current) setError(messageOf(e));
    } finally {
      if (alive.current) setBusy(false);
    }
  };
  return (
    <span class="action">
      <button
        type={props.submit ? 'submit' : 'button'}
        class={props.kind ?? 'plain'}
        disabled={busy || props.disabled}
        aria-busy={busy}
        onClick={run}
        data-action={props.name}
      >
        {busy ? (
          <>
            <span class="spin" aria-hidden="true" /> {props.busyLabel ?? 'Working…'}
          </>
        ) : (
          props.children
        )}
      </button>
      {error ? (
        <span class="error inline" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

/** Deleting (or another step not to take by mistake) asks once more in place (no browser dialog), then runs. */
export function ConfirmAction(props: {
  onRun: () => Promise<unknown>;
  children: ComponentChildren;
  question: string;
  name?: string;
  confirmLabel?: string;
  busyLabel?: string;
  /** How the first button looks: a step that undoes a restriction (lifting a suspension) is not red. */
  kind?: 'danger' | 'plain';
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class={props.kind ?? 'danger'} onClick={() => setAsking(true)} data-action={props.name}>
        {props.children}
      </button>
    );
  return (
    <span class="confirm">
      <span>{props.question}</span>{' '}
      <Action
        kind={props.kind ?? 'danger'}
        onRun={props.onRun}
        busyLabel={props.busyLabel ?? 'Deleting…'}
        name={props.name ? `${props.name}-confirm` : undefined}
      >
        {props.confirmLabel ?? 'Yes, delete'}
      </Action>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  // Plain-http consoles (not localhost) have no clipboard API: the old selection copy still works there.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('The browser refused to copy: select the text and copy it by hand.');
}

export function CopyButton({ text, label = 'Copy', name }: { text: string; label?: string; name?: string }) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  return (
    <button
      type="button"
      class="copy"
      data-action={name}
      onClick={() =>
        copyText(text).then(
          () => setState('done'),
          () => setState('failed'),
        )
      }
    >
      {state === 'done' ? 'Copied ✓' : state === 'failed' ? 'Copy failed' : label}
    </button>
  );
}

export function Field(props: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="label">{props.label}</span>
      {props.children}
      {props.hint ? <span class="hint">{props.hint}</span> : null}
    </label>
  );
}

interface InputProps {
  value: string;
  onValue: (v: string) => void;
  name?: string;
  type?: 'text' | 'email' | 'password' | 'search' | 'url' | 'number' | 'date';
  placeholder?: string;
  autocomplete?: string;
  min?: string;
  title?: string;
  'aria-label'?: string;
  /** A field that must not submit its form on Enter (a search box inside a form whose button creates something). */
  noSubmit?: boolean;
}

export function Input({ value, onValue, type = 'text', noSubmit, ...rest }: InputProps) {
  return (
    <input
      {...rest}
      type={type}
      value={value}
      onInput={(e) => onValue((e.currentTarget as HTMLInputElement).value)}
      onKeyDown={noSubmit ? (e) => e.key === 'Enter' && e.preventDefault() : undefined}
    />
  );
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = String(status ?? 'unknown');
  return <span class={`badge s-${s.toLowerCase().replace(/[^a-z]+/g, '-')}`}>{s}</span>;
}

export function Check({ ok }: { ok: boolean | null | undefined }) {
  if (ok === null || ok === undefined) return <span class="muted">not checked</span>;
  return ok ? <span class="ok">✓ found</span> : <span class="bad">✗ missing or wrong</span>;
}

export function time(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(/^\d{4}-\d\d-\d\d \d/.test(v) ? v.replace(' ', 'T') + 'Z' : v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

export function PageTitle({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }) {
  useEffect(() => {
    if (typeof children === 'string') document.title = `${children} · Postern`;
  }, [children]);
  return (
    <div class="page-title">
      <h1>{children}</h1>
      {actions ? <div class="actions">{actions}</div> : null}
    </div>
  );
}

export interface DomainSummary {
  DomainID: number;
  SenderDomain: string;
  Status: string;
  /** When an unfinished deletion of it began (its Status then reads Disabled), else null. */
  DeletionStartedAt?: string | null;
}

const DOMAIN_KEY = 'postern.domain';

/** The user's domains and the one picked for the per-domain pages (remembered for the tab). */
export function useDomains(): { load: Loaded<DomainSummary[]>; selected: number | null; select: (id: number) => void } {
  const load = useLoad(async () => (await call('emailgateway.getdomains')).Domains as DomainSummary[], []);
  const [picked, setPicked] = useState<number | null>(() => Number(sessionStorage.getItem(DOMAIN_KEY)) || null);
  const list = load.data ?? [];
  const selected = list.some((d) => d.DomainID === picked) ? picked : (list[0]?.DomainID ?? null);
  const select = (id: number) => {
    sessionStorage.setItem(DOMAIN_KEY, String(id));
    setPicked(id);
  };
  return { load, selected, select };
}

export function DomainPicker({ domains, selected, onSelect }: { domains: DomainSummary[]; selected: number | null; onSelect: (id: number) => void }) {
  if (!domains.length)
    return (
      <Notice>
        You have no sender domain yet. <a href="#/domains">Add one on the Domains page.</a>
      </Notice>
    );
  return (
    <Field label="Domain">
      <select name="domain" value={String(selected ?? '')} onChange={(e) => onSelect(Number((e.currentTarget as HTMLSelectElement).value))}>
        {domains.map((d) => (
          <option value={String(d.DomainID)} key={d.DomainID}>
            {d.SenderDomain} ({d.DeletionStartedAt ? 'Being deleted' : d.Status})
          </option>
        ))}
      </select>
    </Field>
  );
}

/** Previous/next for offset paging (RecordsFrom / StartFrom); the server holds the data. */
export function Pager({ from, size, total, onFrom }: { from: number; size: number; total: number; onFrom: (n: number) => void }) {
  if (total <= size && from === 0) return null;
  return (
    <div class="pager">
      <button type="button" disabled={from === 0} onClick={() => onFrom(Math.max(0, from - size))}>
        ← Previous
      </button>
      <span>
        {total ? from + 1 : 0}–{Math.min(from + size, total)} of {total}
      </span>
      <button type="button" disabled={from + size >= total} onClick={() => onFrom(from + size)}>
        Next →
      </button>
    </div>
  );
}

/** The search box of a paged list: what is typed goes to the address at once and to the list when typing pauses or on Enter. */
export function SearchForm({ label, name, placeholder, search }: { label: string; name: string; placeholder?: string; search: PagedSearch }) {
  return (
    <form
      class="card row"
      onSubmit={(e) => {
        e.preventDefault();
        search.apply();
      }}
    >
      <Field label={label}>
        <Input name={name} type="search" value={search.values.q} onValue={(q) => search.type({ q })} placeholder={placeholder} />
      </Field>
      <button type="submit">Search</button>
    </form>
  );
}

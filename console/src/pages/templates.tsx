import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { go } from '../router';
import { Action, ConfirmAction, Field, Input, LoadState, PageTitle, Pager, SaveNoteView, time, useLoad, useSaveNote } from '../ui';
import { usePagedSearch } from '../url-state';
import { MailPreview } from '../preview';

interface TemplateRow {
  TemplateID: number;
  TemplateName: string;
  TemplateSubject: string;
  UpdatedAt: string;
}

const SIZE = 25;

function AllTemplates() {
  const { from, setFrom } = usePagedSearch(SIZE);
  const [name, setName] = useState('');
  const load = useLoad(() => call('email.templates.get', { RecordsPerRequest: SIZE, RecordsFrom: from }), [from]);
  const create = async () => {
    const r = await call('email.template.create', {
      TemplateName: name.trim(),
      TemplateSubject: name.trim(),
      TemplateHTMLContent: '<h1>Hello {{ Subscriber:FirstName|"there" }}</h1>\n<p>Write your message here.</p>',
    });
    go(`templates/${r.TemplateID}`);
  };
  return (
    <section>
      <PageTitle>Templates</PageTitle>
      <form class="card row" noValidate onSubmit={(e) => e.preventDefault()}>
        <Field label="New template">
          <Input name="templatename" value={name} onValue={setName} placeholder="Welcome" />
        </Field>
        <Action kind="primary" onRun={create} busyLabel="Creating…" disabled={!name.trim()} name="create-template" submit>
          Create template
        </Action>
      </form>
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Templates.length ? (
              <table class="grid">
                <thead>
                  <tr>
                    <th>Template</th>
                    <th>Subject</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.Templates as TemplateRow[]).map((t) => (
                    <tr key={t.TemplateID}>
                      <td data-label="Template">
                        <a href={`#/templates/${t.TemplateID}`}>{t.TemplateName}</a>
                      </td>
                      <td data-label="Subject" class="wrap">
                        {t.TemplateSubject}
                      </td>
                      <td data-label="Updated">{time(t.UpdatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No templates yet.</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalTemplateCount} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

/**
 * Edit a template with a live preview (see MailPreview: it runs nothing and loads nothing), so a template cannot
 * run anything or call home while it is being edited.
 */
function Editor({ id }: { id: number }) {
  const load = useLoad(async () => (await call('email.template.get', { TemplateID: id })).Template, [id]);
  const [name, setName] = useState('');
  const [subject, setSubject] = useState('');
  const [html, setHtml] = useState('');
  const [preview, setPreview] = useState('');
  const saved = useSaveNote();
  useEffect(() => {
    if (!load.data) return;
    setName(load.data.TemplateName);
    setSubject(load.data.TemplateSubject);
    setHtml(load.data.TemplateHTMLContent);
    setPreview(load.data.TemplateHTMLContent);
  }, [load.data]);
  // Typing redraws the preview after a short pause rather than on every key.
  useEffect(() => {
    const t = setTimeout(() => setPreview(html), 300);
    return () => clearTimeout(t);
  }, [html]);
  const save = () =>
    saved.run(async () => {
      await call('email.template.update', { TemplateID: id, TemplateName: name, TemplateSubject: subject, TemplateHTMLContent: html });
      return 'Saved.';
    });
  return (
    <section>
      <p>
        <a href="#/templates">← Templates</a>
      </p>
      <LoadState load={load}>
        {(t) => (
          <>
            <PageTitle
              actions={
                <ConfirmAction
                  question="Delete this template?"
                  name="delete-template"
                  onRun={async () => {
                    await call('email.template.delete', { TemplateID: id });
                    go('templates');
                  }}
                >
                  Delete
                </ConfirmAction>
              }
            >
              {t.TemplateName}
            </PageTitle>
            <div class="cols editor">
              <form class="card" noValidate onSubmit={(e) => e.preventDefault()}>
                <Field label="Name">
                  <Input name="templatename" value={name} onValue={saved.edit(setName)} />
                </Field>
                <Field label="Subject">
                  <Input name="templatesubject" value={subject} onValue={saved.edit(setSubject)} />
                </Field>
                <Field label="HTML" hint='Personalise with {{ Subscriber:FirstName|"there" }}; links are tracked when the domain tracks clicks.'>
                  <textarea name="templatehtml" rows={16} value={html} onInput={(e) => saved.edit(setHtml)((e.currentTarget as HTMLTextAreaElement).value)} />
                </Field>
                <Action kind="primary" onRun={save} busyLabel="Saving…" name="save-template" submit>
                  Save
                </Action>
                <SaveNoteView note={saved} />
              </form>
              <div class="card">
                <h2>Preview</h2>
                {/* A new frame for each version: nothing of the last one lingers. */}
                {preview ? <MailPreview key={preview} title="Template preview" html={preview} /> : <p class="muted">Nothing to preview yet.</p>}
              </div>
            </div>
          </>
        )}
      </LoadState>
    </section>
  );
}

export function Templates({ templateId }: { templateId: number | null }) {
  return templateId ? <Editor id={templateId} key={templateId} /> : <AllTemplates />;
}

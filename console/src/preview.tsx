/**
 * Mail HTML shown in the console (a captured message, a template being edited, a campaign's content) loads nothing
 * and runs nothing. The frame's empty sandbox already runs no script, submits no form and has no access to the
 * console's origin; the policy put in front of the HTML also refuses every fetch but inline styles and data: images.
 * The console's own policy, which a srcdoc frame inherits, still allows same-origin images, so without this one a
 * Postern open pixel in the HTML (same origin as the console under TRACKING_BASE_URL) would record an open nobody made.
 */
const PREVIEW_POLICY = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`;

export function MailPreview({ html, title }: { html: string; title: string }) {
  return <iframe class="preview" title={title} sandbox="" referrerpolicy="no-referrer" srcdoc={PREVIEW_POLICY + html} />;
}

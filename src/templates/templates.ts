import type { Db } from '../db';
import { formatTime } from '../auth/users';

export interface TemplateRow {
  id: number;
  user_id: number;
  name: string;
  description: string;
  subject: string;
  html: string | null;
  text: string | null;
  created_at: number;
  updated_at: number;
}

/** The owner's template, or undefined: another user's template answers like a missing one. */
export async function findOwnedTemplate(db: Db, userId: number, templateId: unknown): Promise<TemplateRow | undefined> {
  const id = Number(templateId);
  if (!Number.isInteger(id) || id < 1) return undefined;
  return db('templates').where({ id, user_id: userId }).first();
}

/** Empty content counts as none: a template needs HTML or plain text to be sendable. */
export function hasContent(html: string | null | undefined, text: string | null | undefined): boolean {
  return !!(html && html.trim()) || !!(text && text.trim());
}

export function presentTemplate(row: TemplateRow, withContent = true): Record<string, unknown> {
  const t: Record<string, unknown> = {
    TemplateID: Number(row.id),
    TemplateName: row.name,
    TemplateDescription: row.description,
    TemplateSubject: row.subject,
    RelOwnerUserID: Number(row.user_id),
    CreatedAt: formatTime(row.created_at),
    UpdatedAt: formatTime(row.updated_at),
  };
  if (withContent) {
    t.TemplateHTMLContent = row.html ?? '';
    t.TemplatePlainContent = row.text ?? '';
  }
  return t;
}

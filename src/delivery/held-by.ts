/** `deliveries.held_by`: null is queue.hold's (the operator's); these two are the sender's state's. */

/** Held for its sender domain's suspension (suspension-hold.ts): the lift releases it. */
export const SUSPENSION = 'suspension';
/** Held while its account or domain is switched off (switched-off-hold.ts): switching on releases it. */
export const SWITCHED_OFF = 'disabled';

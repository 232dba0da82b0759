/** `deliveries.held_by` of a delivery held for its sender domain's suspension (suspension-hold.ts); null: queue.hold. */
export const SUSPENSION = 'suspension';

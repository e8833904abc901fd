/**
 * Access reviews (re-exported by `entragate/store`): who can reach each application on the directory's
 * identities, and what a candidate policy set would grant or remove.
 */
export {
  createReviewSummary,
  policyKey,
  reviewAccess,
  reviewAccessRows,
  type AccessReview,
  type OutcomeCounts,
  type ReviewCandidate,
  type ReviewChange,
  type ReviewDecision,
  type ReviewOptions,
  type ReviewOutcome,
  type ReviewRow,
  type ReviewStore,
  type TargetSummary,
} from './review.js';
export { csvCell, escapeHtml, renderReview, REVIEW_FORMATS, type ReviewFormat } from './render.js';

// Start GOV.UK Frontend's components (the pages work without it: this only enhances them).
import { initAll } from './govuk/govuk-frontend.min.js'
initAll()

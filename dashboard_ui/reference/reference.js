// Starts Swagger UI on /docs. A file, not an inline script: the page's CSP allows only 'self'.
// Paths are relative to /docs, so a stage or path prefix in front of it is kept.
/* global SwaggerUIBundle */
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  SwaggerUIBundle({
    url: "api/v1/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    // The public validator badge would load an image from another origin (blocked by the CSP).
    validatorUrl: null,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    tryItOutEnabled: false,
  });
});

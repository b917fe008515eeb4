// The data source form's "Test connection": posts what the form holds now (saved or not)
// to the admin's test endpoint and says what came of it. The answer never holds a password.
(function () {
  const box = document.getElementById("test-connection-box");
  if (!box) return;
  const form = box.closest("form");
  const button = document.getElementById("test-connection");
  const result = document.getElementById("test-connection-result");
  // Next to the credentials it tests, not below every fieldset.
  const anchor = document.querySelector(".field-read_password") || document.querySelector(".field-clear_password");
  if (anchor) anchor.after(box);

  function say(text, ok) {
    result.className = ok ? "ok" : "failed";
    result.textContent = text;
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    say("Connecting…", true);
    try {
      const answer = await fetch(box.dataset.url, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      const body = await answer.json().catch(() => null);
      if (!body) {
        say(`The test could not run (HTTP ${answer.status}).`, false);
      } else if (body.ok) {
        say(body.message, true);
      } else if (body.errors) {
        const fields = Object.entries(body.errors).map(([name, messages]) => `${name}: ${messages.join(" ")}`);
        say(`${body.message} ${fields.join("; ")}`, false);
      } else {
        say(`Could not connect (${body.error_code}): ${body.message}`, false);
      }
    } catch (failure) {
      say(`The test could not run: ${failure}`, false);
    } finally {
      button.disabled = false;
    }
  });
})();

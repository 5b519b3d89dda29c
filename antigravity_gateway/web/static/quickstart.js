// Quick start: copy-ready snippets for each client, filled in with this gateway's address and key.

import { get } from "./api.js";
import { copyText, field, h, icon, nextId } from "./dom.js";

const py = (value) => JSON.stringify(value); // a valid Python string literal for these ASCII values
const sh = (value) => `'${String(value).replace(/'/g, "'\\''")}'`;

const SNIPPETS = [
  {
    id: "curl",
    title: "curl",
    note: "Gemini's REST API, as Google documents it; the key may also go in Authorization: Bearer.",
    lang: "bash",
    code: ({ base, key, model }) =>
      `curl -s ${sh(`${base}/v1beta/models/${model}:generateContent`)} \\
  -H 'Content-Type: application/json' \\
  -H ${sh(`x-goog-api-key: ${key}`)} \\
  -d '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'

# streamed (server-sent events)
curl -sN ${sh(`${base}/v1beta/models/${model}:streamGenerateContent?alt=sse`)} \\
  -H 'Content-Type: application/json' \\
  -H ${sh(`x-goog-api-key: ${key}`)} \\
  -d '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'`,
  },
  {
    id: "genai",
    title: "Python: google-genai",
    note: "pip install google-genai. Every version works (3.x uses /v1, older ones /v1beta).",
    lang: "python",
    code: ({ base, key, model }) =>
      `from google import genai
from google.genai import types

client = genai.Client(
    api_key=${py(key)},
    http_options=types.HttpOptions(base_url=${py(base)}),
)
response = client.models.generate_content(model=${py(model)}, contents="Hello")
print(response.text)`,
  },
  {
    id: "generativeai",
    title: "Python: google-generativeai (legacy)",
    note: "The REST transport and an explicit http:// endpoint are required.",
    lang: "python",
    code: ({ base, key, model }) =>
      `import google.generativeai as genai

genai.configure(
    api_key=${py(key)},
    transport="rest",
    client_options={"api_endpoint": ${py(base)}},
)
model = genai.GenerativeModel(${py(model)})
print(model.generate_content("Hello").text)`,
  },
  {
    id: "openai",
    title: "Python: OpenAI SDK",
    note: "The base URL ends in /v1.",
    lang: "python",
    code: ({ base, key, model }) =>
      `from openai import OpenAI

client = OpenAI(base_url=${py(`${base}/v1`)}, api_key=${py(key)})
reply = client.chat.completions.create(
    model=${py(model)},
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
  },
  {
    id: "anthropic",
    title: "Python: Anthropic SDK",
    note: "The base URL has no /v1 (the SDK adds it).",
    lang: "python",
    code: ({ base, key, model }) =>
      `from anthropic import Anthropic

client = Anthropic(base_url=${py(base)}, api_key=${py(key)})
message = client.messages.create(
    model=${py(model)},
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text)`,
  },
  {
    id: "gemini-cli",
    title: "gemini-cli",
    note: "In ~/.gemini/settings.json choose API-key authentication, then point the CLI at the gateway.",
    lang: "bash",
    code: ({ base, key, model }) =>
      `# ~/.gemini/settings.json
{
  "security": {
    "auth": {
      "selectedType": "gemini-api-key"
    }
  }
}

# then, in the shell
export GEMINI_API_KEY=${sh(key)}
export GOOGLE_GEMINI_BASE_URL=${sh(base)}
gemini -m ${sh(model)}`,
  },
  {
    id: "claude-code",
    title: "Claude Code",
    note: "Claude Code talks the Anthropic protocol; the gateway serves it from the same address.",
    lang: "bash",
    code: ({ base, key, model }) =>
      `export ANTHROPIC_BASE_URL=${sh(base)}
export ANTHROPIC_API_KEY=${sh(key)}
export ANTHROPIC_MODEL=${sh(model)}
claude`,
  },
];

function preferredModel(models) {
  return (
    models.find((m) => m === "gemini-2.5-flash") ||
    models.find((m) => m.includes("gemini") && m.includes("flash") && !m.includes("image")) ||
    models.find((m) => m.includes("gemini")) ||
    models[0] ||
    "gemini-2.5-flash"
  );
}

export async function render(root) {
  const data = await get("/api/quickstart");
  const base = String(data.base_url || location.origin).replace(/\/+$/, "");
  const models = (data.models || []).slice().sort();
  const keyIsSet = Boolean(data.api_key);
  const key = data.api_key || "any-key";

  const modelSelect = h("select", {}, (models.length ? models : [preferredModel(models)]).map((m) => h("option", { value: m }, m)));
  modelSelect.value = preferredModel(models);

  const cards = SNIPPETS.map((sn) => {
    const titleId = nextId("qs");
    const pre = h("pre", { class: "code", tabindex: "0", "aria-labelledby": titleId, dataset: { snippet: sn.id } });
    const copy = h("button", { type: "button", class: "small", "aria-label": `Copy the ${sn.title} snippet`, onclick: () => copyText(pre.textContent, `${sn.title} snippet copied`) }, icon("copy", 14), "Copy");
    const card = h(
      "section",
      { class: "card snippet", id: `qs-${sn.id}`, "aria-labelledby": titleId },
      h("div", { class: "snippet-head" }, h("h2", { id: titleId }, sn.title), copy),
      h("p", { class: "muted small" }, sn.note),
      pre,
    );
    return { sn, pre, card };
  });
  function fill() {
    const values = { base, key, model: modelSelect.value };
    for (const c of cards) c.pre.textContent = c.sn.code(values);
  }
  modelSelect.addEventListener("change", fill);
  fill();

  const endpoint = (label, value) =>
    h("tr", {}, h("th", { scope: "row" }, label), h("td", { class: "mono" }, value),
      h("td", {}, h("button", { type: "button", class: "small", "aria-label": `Copy the ${label} address`, onclick: () => copyText(value, "Address copied") }, icon("copy", 14), "Copy")));

  const jump = h(
    "nav",
    { class: "row", "aria-label": "Snippets" },
    cards.map((c) => h("button", { type: "button", class: "small", onclick: () => c.card.scrollIntoView({ behavior: "smooth", block: "start" }) }, c.sn.title)),
  );

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Quick start")),
    h(
      "section",
      { class: "card", "aria-labelledby": "qs-endpoints" },
      h("h2", { id: "qs-endpoints" }, "This gateway"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h(
            "tbody",
            {},
            endpoint("Gemini", base),
            endpoint("OpenAI", `${base}/v1`),
            endpoint("Anthropic", base),
            h("tr", {}, h("th", { scope: "row" }, "API key"), h("td", { class: "mono" }, keyIsSet ? "shown in the snippets below" : "none needed (authentication is off): any string works"),
              h("td", {}, keyIsSet ? h("button", { type: "button", class: "small", onclick: () => copyText(data.api_key, "API key copied") }, icon("copy", 14), "Copy key") : null)),
          ),
        ),
      ),
      h("div", { class: "row", style: { "margin-top": "12px" } }, field("Model used in the snippets", modelSelect)),
      keyIsSet ? h("p", { class: "muted small" }, "The snippets contain your API key: share them with care.") : null,
    ),
    jump,
    ...cards.map((c) => c.card),
  );
}

-- setup({ language = ... }) end to end: the real server's status names the setting in effect,
-- a transcription names the language it was recognised in. Needs SWICTATION_TEST_PYTHON and
-- SWICTATION_TEST_WAV (speech of SWICTATION_TEST_TEXT); tests/editors/test_neovim.py sets them.
local t = require("swictation_test")
local it, eq = t.it, t.eq

local swictation = require("swictation")
local client = require("swictation.client")
local config = require("swictation.config")
local protocol = require("swictation.protocol")

local WAV = vim.env.SWICTATION_TEST_WAV

local need_server = t.need_speech_server

local function setup(extra)
  swictation.setup(t.server_options(extra))
end

local ready_client = t.ready_client

local function request(method, params, timeout_ms)
  local result, err = client.request_sync(ready_client(), method, params, timeout_ms or 10000)
  assert(result, method .. " failed: " .. vim.inspect(err))
  return result
end

--- The `language` setting the server has in effect (swictation/status engine.language).
local function server_language()
  return request(protocol.STATUS, vim.empty_dict()).engine.language
end

local function wait_language(want)
  local seen
  t.wait(10000, function()
    seen = server_language()
    return seen == want
  end, function()
    return ("the server's language is %s, not %s"):format(t.fmt(seen), t.fmt(want))
  end)
end

it("setup({ language }) reaches the server in initializationOptions", function()
  need_server()
  setup({ language = "de" })
  eq("de", config.options.settings.language, "sent as the server setting `language`")
  eq("de", server_language(), "status names the setting")
  eq("de", request(protocol.STATUS, vim.empty_dict()).config.language, "in the configuration in effect")
end)

it("a transcription names the language it was recognised in", function()
  need_server()
  setup({ language = "de" })
  local bufnr = t.buffer({ "" }, "python")
  local result = request(protocol.TRANSCRIBE, {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = 0, character = 0 },
    audio = { path = WAV },
    context = { before = "# ", after = "", languageId = "python" },
  }, 60000)
  t.truthy(result.text ~= "", "some text was recognised")
  -- The bundled Whisper tiny.en decodes English whatever the setting says, and says so.
  eq("en", result.language, "the result's language")
  local done = t.wait_done(60000, function()
    vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(WAV))
  end)
  assert(done.ok, "transcription failed under language=de: " .. tostring(done.error))
  eq("en", done.language, "SwictationDone names the language")
  t.truthy(#vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] > 0, "the text was inserted")
  -- :SwictationStatus names the setting and the language the last utterance was heard in.
  local shown = t.wait_event("SwictationStatusShown", 30000, function()
    vim.cmd("SwictationStatus")
  end)
  t.truthy(
    vim.tbl_contains(shown.lines, "language: de (last utterance heard in en)"),
    "status lines: " .. vim.inspect(shown.lines)
  )
end)

it("setup() again pushes a new language with workspace/didChangeConfiguration", function()
  need_server()
  local c = ready_client()
  setup({ language = "es" })
  wait_language("es")
  eq(c.id, ready_client().id, "the same server, not a restart")
end)

it("settings.language wins over language", function()
  need_server()
  setup({ language = "de", settings = { language = "en" } })
  wait_language("en")
end)

it("language = 'auto' sends nothing and the server is back on its default", function()
  need_server()
  setup({})
  eq(nil, config.options.settings.language, "auto is the server's default: not sent")
  wait_language("auto")
end)

---@mod swictation.config Options for require("swictation").setup()
---
--- One commented defaults table and one deep merge. A wrong option never stops the plugin:
--- it is named in a warning that shows the corrected snippet, and its default is used.

local M = {}

---@class swictation.Config
M.defaults = {
  -- How to start the server. The first item must be an executable on $PATH or an absolute path.
  -- A virtual environment works too: { "/path/to/venv/bin/swictation-rpc", "serve", "--stdio" }.
  -- Left at this default, `swictation-rpc` on $PATH is used, else the one :SwictationInstall
  -- put under stdpath("data")/swictation/venv.
  cmd = { "swictation-rpc", "serve", "--stdio" },

  -- How long to wait for a started server to answer `initialize` before giving up with one
  -- message (state "failed"). The first start after an install can take a while.
  start_timeout_ms = 60000,

  -- Extra environment for the server process, e.g. { SWICTATION_MODELS_DIR = "/data/models" }.
  cmd_env = {},

  -- Server settings, camelCase exactly as on the wire (`:help swictation-settings`). Sent as
  -- initializationOptions and with workspace/didChangeConfiguration (section "swictation").
  -- Example: { defaultMode = "fast", engine = { device = "cpu" }, vad = { autoStopSilenceMs = 1500 } }
  settings = {},

  -- Spoken language: "auto" (detected where the model can; else the model's own) or a code such
  -- as "en", "de", "es". Sent as the server setting `language` (a `settings.language` wins); it
  -- picks the spoken command table ("Komma", "Klammer auf"). The bundled Whisper is English only.
  language = "auto",

  -- What is sent about the text around the cursor, so the server can fit spacing, casing and
  -- spelling of identifiers to it.
  context = {
    -- Characters of text before and after the cursor.
    chars = 200,
    -- Send identifiers found in the buffer (the engine biases recognition toward them).
    identifiers = true,
    -- At most this many identifiers.
    max_identifiers = 200,
  },

  -- Interim text shown as virtual text while dictating, replaced by the final text.
  interim = {
    enabled = true,
    -- Highlight group of the interim text (SwictationInterim links to Comment by default).
    hl_group = "SwictationInterim",
  },

  -- Wait for the speech engine if it is still loading (false: fail at once with a message).
  wait_for_engine = true,

  -- How many utterances :SwictationHistory lists.
  history_limit = 50,

  -- Statusline labels per server state; `require("swictation").status()` returns prefix .. label.
  status = {
    prefix = "swictation: ",
    labels = {
      stopped = "", -- no server running: status() is empty
      starting = "starting",
      loading = "loading",
      idle = "idle",
      listening = "listening",
      transcribing = "transcribing",
      error = "error",
      failed = "failed", -- the server did not start (not found, exited, or no answer)
    },
  },

  -- :SwictationInstall: a private virtual environment under stdpath("data")/swictation/venv.
  install = {
    -- What pip installs: a name with an optional version ("swictation-rpc==0.2.0"), a local
    -- checkout or a wheel file.
    spec = "swictation-rpc",
    -- The Python the venv is made with (>= 3.10); "" finds `python3`, then `python`, on $PATH.
    python = "",
    -- The GPU build (the `gpu` extra, onnxruntime-gpu instead of onnxruntime): "auto" when
    -- `nvidia-smi` runs, "always" or "never".
    gpu = "auto",
    -- Extra arguments for `pip install`, e.g. { "--index-url", "https://mirror.example/simple" }.
    pip_args = {},
  },

  -- Lowest level of messages shown with vim.notify (all of them stay in :SwictationLog).
  notify_level = vim.log.levels.INFO,

  -- What tells you that text went in. Sounds are the server's (it owns the audio devices):
  -- `settings = { signals = { sounds = false } }` turns them off.
  signals = {
    -- Announce each inserted text ("Swictation: inserted “…”") with vim.notify at this level
    -- (shown whatever `notify_level` says), so a screen reader or a notifier reads it out;
    -- false: do not announce.
    announce = vim.log.levels.INFO,
  },
}

---@type swictation.Config
M.options = vim.deepcopy(M.defaults)

-- Tables whose keys are the user's, not ours: only their type is checked here.
local open_tables = { cmd_env = true, settings = true, ["install.pip_args"] = true }

local enums = {
  notify_level = { 0, 1, 2, 3, 4, 5 },
  ["install.gpu"] = { "auto", "always", "never" },
  ["signals.announce"] = { false, 0, 1, 2, 3, 4, 5 },
}

--- Options whose value may also be `false` (off), besides their default's type.
local or_false = { ["signals.announce"] = true }

local function levenshtein(a, b)
  local prev = {}
  for j = 0, #b do
    prev[j] = j
  end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The known key closest to `key`, if it is close enough to be a typo.
local function closest(key, known)
  local best, best_d
  for name in pairs(known) do
    local d = levenshtein(key:lower(), name:lower())
    if not best_d or d < best_d or (d == best_d and name < best) then
      best, best_d = name, d
    end
  end
  if best and best_d <= math.max(2, math.floor(#key / 3)) then
    return best
  end
end

local function to_camel(key)
  return (key:gsub("_(%w)", function(c)
    return c:upper()
  end))
end

local function inline(value)
  return vim.inspect(value, { newline = " ", indent = "" })
end

--- `a.b.c = v` as nested setup() snippet text: `a = { b = { c = v } }`.
local function snippet(path, value)
  local parts = vim.split(path, ".", { plain = true })
  local text = inline(value)
  for i = #parts, 1, -1 do
    local key = parts[i]
    if not key:match("^[%a_][%w_]*$") then
      key = "[" .. inline(key) .. "]"
    end
    text = i == #parts and (key .. " = " .. text) or (key .. " = { " .. text .. " }")
  end
  return 'require("swictation").setup({ ' .. text .. " })"
end

--- Server settings (`:help swictation-settings`): at the top level of setup() they belong in
--- `settings`.
local server_settings = {
  defaultMode = true,
  models = true,
  engine = true,
  autoMode = true,
  audio = true,
  vad = true,
  text = true,
  history = true,
  dictation = true,
  applyEdits = true,
  logLevel = true,
}

--- Server settings under a plugin option of the same name: `signals.sounds` is the server's
--- (`settings.signals.sounds`), `signals.announce` the plugin's.
local nested_server_settings = { ["signals.sounds"] = true }

--- Keys other editors (or guesses) use for the server command: `cmd` is ours.
local server_command_keys = { server = true, path = true, serverPath = true, server_path = true, command = true }

--- A hint for an unknown key that is an option in the wrong place, else nil.
---@param prefix string? the table it is in (nil: the top level)
local function misplaced(key, value, prefix)
  local camel = key:gsub("_(%w)", function(c)
    return c:upper()
  end)
  if prefix then
    local path = prefix .. "." .. camel
    if nested_server_settings[path] then
      return ("it is a server setting: did you mean `settings.%s`?\n  %s"):format(
        path,
        snippet("settings." .. path, value)
      )
    end
    return nil
  end
  if server_settings[camel] then
    return ("it is a server setting: did you mean `settings.%s`?\n  %s"):format(
      camel,
      snippet("settings." .. camel, value)
    )
  end
  if server_command_keys[key] then
    local path = type(value) == "string" and value
      or (type(value) == "table" and type(value.path) == "string" and value.path)
    return ("the server command is `cmd`: did you mean `cmd`?\n  %s"):format(
      snippet("cmd", { path or "/path/to/swictation-rpc", "serve", "--stdio" })
    )
  end
end

local function is_list_of_strings(v)
  if type(v) ~= "table" or not vim.islist(v) or #v == 0 then
    return false
  end
  for _, item in ipairs(v) do
    if type(item) ~= "string" then
      return false
    end
  end
  return true
end

--- Check `user` against `defaults`; returns a copy without the wrong entries, and the problems.
local function check(user, defaults, prefix, problems)
  local clean = {}
  for key, value in pairs(user) do
    local path = prefix and (prefix .. "." .. tostring(key)) or tostring(key)
    local default = type(key) == "string" and defaults[key] or nil
    local hint = default == nil and type(key) == "string" and misplaced(key, value, prefix) or nil
    if hint then
      problems[#problems + 1] = ("unknown option `%s`: %s"):format(path, hint)
    elseif default == nil then
      local suggestion = type(key) == "string" and closest(key, defaults) or nil
      local msg = ("unknown option `%s`"):format(path)
      if suggestion then
        local fixed = prefix and (prefix .. "." .. suggestion) or suggestion
        msg = msg .. (", did you mean `%s`?\n  %s"):format(fixed, snippet(fixed, value))
        if type(value) == type(defaults[suggestion]) or defaults[suggestion] == nil then
          clean[suggestion] = value
          msg = msg .. "\n  (used as `" .. fixed .. "` for now)"
        end
      end
      problems[#problems + 1] = msg
    elseif path == "cmd" then
      if is_list_of_strings(value) then
        clean[key] = value
      else
        problems[#problems + 1] = ("option `cmd` must be a list of strings, got %s; using the default\n  %s"):format(
          inline(value),
          snippet("cmd", type(value) == "string" and vim.split(value, "%s+", { trimempty = true }) or default)
        )
      end
    elseif or_false[path] and (value == false or value == true) then
      clean[key] = value and default -- true: on, at the default
    elseif type(value) ~= type(default) then
      local fixed = default
      if type(default) == "number" and tonumber(value) then
        fixed = tonumber(value)
      elseif type(default) == "boolean" and (value == "true" or value == "false") then
        fixed = value == "true"
      end
      problems[#problems + 1] = ("option `%s` must be a %s, got %s %s; using the default\n  %s"):format(
        path,
        type(default),
        type(value),
        inline(value),
        snippet(path, fixed)
      )
    elseif type(value) == "table" and not open_tables[path] and not vim.islist(default) then
      clean[key] = check(value, default, path, problems)
    elseif enums[path] and not vim.tbl_contains(enums[path], value) then
      problems[#problems + 1] = ("option `%s` must be one of %s, got %s; using the default\n  %s"):format(
        path,
        inline(enums[path]),
        inline(value),
        snippet(path, default)
      )
    else
      clean[key] = value
    end
  end
  return clean
end

--- Server settings are camelCase on the wire: fix snake_case keys, and say so.
local function camel_settings(settings, prefix, problems)
  if type(settings) ~= "table" or vim.islist(settings) then
    return settings
  end
  local out = {}
  for key, value in pairs(settings) do
    local path = prefix .. "." .. tostring(key)
    local fixed = type(key) == "string" and to_camel(key) or key
    if fixed ~= key then
      problems[#problems + 1] = ("server settings are camelCase: `%s` should be `%s`\n  %s"):format(
        path,
        prefix .. "." .. fixed,
        snippet(prefix .. "." .. fixed, value)
      )
    end
    out[fixed] = camel_settings(value, prefix .. "." .. fixed, problems)
  end
  return out
end

--- Validate `user` and merge it over the defaults.
---@param user table|nil
---@return swictation.Config options
---@return string[] problems one message per wrong option, each with the corrected snippet
function M.resolve(user)
  local problems = {}
  if user ~= nil and type(user) ~= "table" then
    problems[1] = ("setup() takes a table of options, got %s\n  %s"):format(
      inline(user),
      'require("swictation").setup({})'
    )
    user = {}
  end
  local clean = check(user or {}, M.defaults, nil, problems)
  if clean.settings then
    clean.settings = camel_settings(clean.settings, "settings", problems)
  end
  table.sort(problems)
  local options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), clean)
  if options.language ~= "auto" and options.settings.language == nil then
    -- Only a choice is sent: an older server never sees a key it does not know by default.
    options.settings.language = options.language
  end
  return options, problems
end

--- Set the options from `user`; wrong options are reported with one warning.
---@param user table|nil
---@return string[] problems
function M.setup(user)
  local options, problems = M.resolve(user)
  M.options = options
  if #problems > 0 then
    require("swictation.log").warn(
      "invalid options in setup(), defaults used where not fixed:\n- " .. table.concat(problems, "\n- "),
      { title = "swictation: invalid options" }
    )
  end
  return problems
end

--- The command that starts the server, and where it came from: "setup" (`cmd` was set),
--- "path" (`swictation-rpc` on $PATH), "install" (the venv :SwictationInstall made), or nil when
--- none is found (the command is then the default, which cannot start).
---@return string[] cmd
---@return "setup"|"path"|"install"|nil source
function M.server_cmd()
  local cmd = M.options.cmd
  if not vim.deep_equal(cmd, M.defaults.cmd) then
    return cmd, "setup"
  end
  if vim.fn.executable(cmd[1]) == 1 then
    return cmd, "path"
  end
  local exe = require("swictation.install").server_exe()
  if exe then
    local out = vim.list_extend({ exe }, vim.list_slice(cmd, 2))
    return out, "install"
  end
  return cmd, nil
end

M._snippet = snippet

return M

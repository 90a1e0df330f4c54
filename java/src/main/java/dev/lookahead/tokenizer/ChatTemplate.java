package dev.lookahead.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Turns a conversation into prompt text, for the chat templates of tokenizer_config.json.
 *
 * <p>Jinja is not implemented. The template's source is recognised by fingerprint as one of
 * these formats, each rendered exactly as its HF template renders it:
 * <ul>
 *   <li>{@link Format#MISTRAL} (Mixtral-8x7B-Instruct-v0.1 / Mistral-7B-Instruct v0.1, v0.2):
 *       {@code <s>[INST] user [/INST]answer</s>[INST] user2 [/INST]}; the assistant's text follows
 *       "[/INST]" directly (the model itself produces the leading space as part of "▁word").
 *       No system message (the template raises an error for one).
 *       Fingerprint: the literals {@code '[INST] '} and {@code ' [/INST]'}.</li>
 *   <li>{@link Format#MISTRAL_SPACED} (the later revision of the same repositories' template):
 *       {@code <s> [INST] system\n\nuser [/INST] answer</s> [INST] user2 [/INST]}; an optional
 *       first system message goes before the first user message. Fingerprint: {@code ' [INST] '}.</li>
 *   <li>{@link Format#LLAMA2} (Llama-2-chat): {@code <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser
 *       [/INST] answer </s><s>[INST] user2 [/INST]}, contents stripped of surrounding whitespace.
 *       Fingerprint: {@code <<SYS>>} and {@code [INST]}.</li>
 *   <li>{@link Format#PLAIN}, used when there is no chat template: {@code <s>system\n\nUser:
 *       user\nAssistant: answer</s>\nUser: user2\nAssistant:} (the last line only with
 *       {@code addGenerationPrompt}; system paragraph only when given).</li>
 * </ul>
 * An unrecognised template loads fine (so plain generation still works) and fails with a clear
 * message when {@link #render} is called. All formats require user and assistant messages to
 * alternate, starting with the user, after an optional first system message.
 *
 * <p>The result contains special-token strings ("&lt;s&gt;"); encode it with
 * {@code tokenizer.encode(text, false)}, which turns them into their ids.
 */
public final class ChatTemplate {

    public enum Format { MISTRAL, MISTRAL_SPACED, LLAMA2, PLAIN, UNRECOGNISED }

    public enum Role { SYSTEM, USER, ASSISTANT }

    public record Message(Role role, String content) {
        public Message {
            Objects.requireNonNull(role);
            Objects.requireNonNull(content);
        }

        public static Message system(String content) {
            return new Message(Role.SYSTEM, content);
        }

        public static Message user(String content) {
            return new Message(Role.USER, content);
        }

        public static Message assistant(String content) {
            return new Message(Role.ASSISTANT, content);
        }
    }

    private static final JsonMapper JSON = new JsonMapper();

    private final Format format;
    private final String bosToken;
    private final String eosToken;
    private final String source;

    public ChatTemplate(Format format, String bosToken, String eosToken, String source) {
        this.format = Objects.requireNonNull(format);
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.source = source;
    }

    /**
     * Reads tokenizer_config.json ({@code bos_token}, {@code eos_token}, {@code chat_template});
     * a {@code chat_template.jinja} beside it is used when the config has no template.
     */
    public static ChatTemplate load(Path tokenizerConfig) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(tokenizerConfig));
        } catch (JacksonException e) {
            throw new TokenizerException(tokenizerConfig + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new TokenizerException(tokenizerConfig + ": cannot read: " + e, e);
        }
        String template = templateText(root, tokenizerConfig.toString());
        Path jinja = tokenizerConfig.resolveSibling("chat_template.jinja");
        if (template == null && Files.isRegularFile(jinja)) {
            try {
                template = Files.readString(jinja);
            } catch (IOException e) {
                throw new TokenizerException(jinja + ": cannot read: " + e, e);
            }
        }
        return new ChatTemplate(recognise(template), tokenString(root, "bos_token", tokenizerConfig.toString()),
                tokenString(root, "eos_token", tokenizerConfig.toString()), tokenizerConfig.toString());
    }

    /** The format a template source is recognised as (null: no template, PLAIN). */
    public static Format recognise(String template) {
        if (template == null || template.isBlank()) {
            return Format.PLAIN;
        }
        String t = template.replace('"', '\'');
        if (t.contains("<<SYS>>") && t.contains("[INST]")) {
            return Format.LLAMA2;
        }
        if (t.contains("' [INST] '") && t.contains("' [/INST]'")) {
            return Format.MISTRAL_SPACED;
        }
        if (t.contains("'[INST] '") && t.contains("' [/INST]'")) {
            return Format.MISTRAL;
        }
        return Format.UNRECOGNISED;
    }

    private static String templateText(JsonNode root, String where) {
        JsonNode t = root.get("chat_template");
        if (t == null || t.isNull()) {
            return null;
        }
        if (t.isTextual()) {
            return t.textValue();
        }
        if (t.isArray()) { // named templates: use "default"
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return named.get("template").textValue();
                }
            }
            throw new TokenizerException(where + ": chat_template list has no 'default' template");
        }
        throw new TokenizerException(where + ": chat_template must be a string or a list, got " + t.getNodeType());
    }

    /** bos_token / eos_token: a string or an AddedToken object with "content". */
    private static String tokenString(JsonNode root, String key, String where) {
        JsonNode t = root.get(key);
        if (t == null || t.isNull()) {
            return null;
        }
        if (t.isTextual()) {
            return t.textValue();
        }
        if (t.isObject() && t.path("content").isTextual()) {
            return t.get("content").textValue();
        }
        throw new TokenizerException(where + ": " + key + " must be a string or {\"content\": ...}, got " + t);
    }

    public Format format() {
        return format;
    }

    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    /**
     * The prompt text of {@code messages}.
     *
     * @param addGenerationPrompt end with the cue for the assistant's answer (PLAIN only; the
     *     [INST] formats end a user turn with "[/INST]" anyway)
     * @throws IllegalArgumentException for an unrecognised template, roles that do not alternate,
     *     or a system message the format cannot express
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        if (format == Format.UNRECOGNISED) {
            throw new IllegalArgumentException((source == null ? "" : source + ": ")
                    + "the chat_template is not one of the recognised formats (Mistral/Mixtral [INST], "
                    + "Llama-2 <<SYS>>); chat cannot be used with it (plain completion still can)");
        }
        String system = null;
        List<Message> turns = messages;
        if (!messages.isEmpty() && messages.getFirst().role() == Role.SYSTEM) {
            system = messages.getFirst().content();
            turns = messages.subList(1, messages.size());
        }
        for (int i = 0; i < turns.size(); i++) {
            Role expected = i % 2 == 0 ? Role.USER : Role.ASSISTANT;
            if (turns.get(i).role() != expected) {
                throw new IllegalArgumentException("after an optional first system message, roles must alternate "
                        + "user/assistant/...; message " + (messages.size() - turns.size() + i) + " is "
                        + turns.get(i).role());
            }
        }
        if (system != null && format == Format.MISTRAL) {
            throw new IllegalArgumentException("this chat template (Mistral v0.1 format) has no system message");
        }
        StringBuilder sb = new StringBuilder();
        switch (format) {
            case MISTRAL -> {
                sb.append(bosToken);
                for (Message m : turns) {
                    sb.append(m.role() == Role.USER ? "[INST] " + m.content() + " [/INST]" : m.content() + eosToken);
                }
            }
            case MISTRAL_SPACED -> {
                sb.append(bosToken);
                for (int i = 0; i < turns.size(); i++) {
                    Message m = turns.get(i);
                    if (m.role() == Role.USER) {
                        String sys = i == 0 && system != null ? system + "\n\n" : "";
                        sb.append(" [INST] ").append(sys).append(m.content()).append(" [/INST]");
                    } else {
                        sb.append(' ').append(m.content()).append(eosToken);
                    }
                }
            }
            case LLAMA2 -> {
                for (int i = 0; i < turns.size(); i++) {
                    Message m = turns.get(i);
                    String content = i == 0 && system != null
                            ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + m.content() : m.content();
                    if (m.role() == Role.USER) {
                        sb.append(bosToken).append("[INST] ").append(pythonStrip(content)).append(" [/INST]");
                    } else {
                        sb.append(' ').append(pythonStrip(content)).append(' ').append(eosToken);
                    }
                }
            }
            case PLAIN -> {
                sb.append(bosToken);
                if (system != null) {
                    sb.append(system).append("\n\n");
                }
                for (Message m : turns) {
                    if (m.role() == Role.USER) {
                        sb.append("User: ").append(m.content()).append('\n');
                    } else {
                        sb.append("Assistant: ").append(m.content()).append(eosToken).append('\n');
                    }
                }
                if (addGenerationPrompt) {
                    sb.append("Assistant:");
                }
            }
            default -> throw new IllegalStateException(format.toString());
        }
        return sb.toString();
    }

    /** Python's str.strip(): Unicode whitespace plus the separators U+001C..U+001F. */
    private static String pythonStrip(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && isPySpace(s.codePointAt(start))) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (end > start && isPySpace(s.codePointBefore(end))) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    private static boolean isPySpace(int cp) {
        return Unicode.isWhiteSpace(cp) || (cp >= 0x1C && cp <= 0x1F);
    }
}

package dev.lookahead.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat rendering. Expected strings were produced once by rendering the same template sources
 * with Jinja2 3.1 (sandboxed, trim_blocks and lstrip_blocks, as transformers does) for the
 * conversation below, and pasted here.
 */
class ChatTemplateTest {

    /** Mixtral-8x7B-Instruct-v0.1's original chat_template. */
    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
            + "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
            + "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
            + "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
            + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    /** The later revision with an optional system message and spaces around [INST]. */
    static final String MISTRAL_SPACED = """
            {%- if messages[0]['role'] == 'system' %}
                {%- set system_message = messages[0]['content'] %}
                {%- set loop_messages = messages[1:] %}
            {%- else %}
                {%- set loop_messages = messages %}
            {%- endif %}

            {{- bos_token }}
            {%- for message in loop_messages %}
                {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
                    {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
                {%- endif %}
                {%- if message['role'] == 'user' %}
                    {%- if loop.first and system_message is defined %}
                        {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
                    {%- else %}
                        {{- ' [INST] ' + message['content'] + ' [/INST]' }}
                    {%- endif %}
                {%- elif message['role'] == 'assistant' %}
                    {{- ' ' + message['content'] + eos_token}}
                {%- else %}
                    {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
                {%- endif %}
            {%- endfor %}
            """;

    /** Llama-2-chat's chat_template. */
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == "
            + "'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/"
            + "assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}"
            + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}"
            + "{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
            + "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + "
            + "content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    static final List<ChatTemplate.Message> CONVERSATION = List.of(
            ChatTemplate.Message.user("Hi there"),
            ChatTemplate.Message.assistant("Hello! How can I help?"),
            ChatTemplate.Message.user("  Tell me a joke. "));

    static List<ChatTemplate.Message> withSystem() {
        List<ChatTemplate.Message> m = new java.util.ArrayList<>();
        m.add(ChatTemplate.Message.system("Be brief."));
        m.addAll(CONVERSATION);
        return m;
    }

    @TempDir
    Path dir;

    private ChatTemplate load(String template) throws IOException {
        ObjectNode cfg = TestTokenizers.JSON.createObjectNode();
        cfg.putObject("bos_token").put("__type", "AddedToken").put("content", "<s>").put("special", true);
        cfg.put("eos_token", "</s>");
        if (template != null) {
            cfg.put("chat_template", template);
        }
        Path p = dir.resolve("tokenizer_config.json");
        Files.writeString(p, cfg.toPrettyString());
        return ChatTemplate.load(p);
    }

    @Test
    void mistralV01RendersAsJinjaDoes() throws IOException {
        ChatTemplate t = load(MISTRAL);
        assertEquals(ChatTemplate.Format.MISTRAL, t.format());
        assertEquals("<s>", t.bosToken());
        assertEquals("</s>", t.eosToken());
        assertEquals("<s>[INST] Hi there [/INST]Hello! How can I help?</s>[INST]   Tell me a joke.  [/INST]",
                t.render(CONVERSATION, true));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(withSystem(), true));
        assertTrue(e.getMessage().contains("system"), e.getMessage());
    }

    @Test
    void mistralSpacedRendersAsJinjaDoes() throws IOException {
        ChatTemplate t = load(MISTRAL_SPACED);
        assertEquals(ChatTemplate.Format.MISTRAL_SPACED, t.format());
        assertEquals("<s> [INST] Hi there [/INST] Hello! How can I help?</s> [INST]   Tell me a joke.  [/INST]",
                t.render(CONVERSATION, true));
        assertEquals("<s> [INST] Be brief.\n\nHi there [/INST] Hello! How can I help?</s> [INST]   Tell me a joke.  [/INST]",
                t.render(withSystem(), true));
    }

    @Test
    void llama2RendersAsJinjaDoes() throws IOException {
        ChatTemplate t = load(LLAMA2);
        assertEquals(ChatTemplate.Format.LLAMA2, t.format());
        assertEquals("<s>[INST] Hi there [/INST] Hello! How can I help? </s><s>[INST] Tell me a joke. [/INST]",
                t.render(CONVERSATION, true));
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
                + "<s>[INST] Tell me a joke. [/INST]", t.render(withSystem(), true));
    }

    @Test
    void plainFallbackWithoutTemplate() throws IOException {
        ChatTemplate t = load(null);
        assertEquals(ChatTemplate.Format.PLAIN, t.format());
        assertEquals("<s>Be brief.\n\nUser: Hi there\nAssistant: Hello! How can I help?</s>\nUser:   Tell me a joke. \n"
                + "Assistant:", t.render(withSystem(), true));
        assertEquals("<s>User: Hi there\n", t.render(List.of(ChatTemplate.Message.user("Hi there")), false));
    }

    @Test
    void unknownTemplateLoadsButFailsOnlyWhenUsed() throws IOException {
        ChatTemplate t = load("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>{% endfor %}");
        assertEquals(ChatTemplate.Format.UNRECOGNISED, t.format());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(CONVERSATION, true));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("not one of the recognised"),
                e.getMessage());
    }

    @Test
    void rolesMustAlternate() throws IOException {
        ChatTemplate t = load(MISTRAL);
        assertThrows(IllegalArgumentException.class, () -> t.render(List.of(ChatTemplate.Message.assistant("x")), true));
        assertThrows(IllegalArgumentException.class, () -> t.render(
                List.of(ChatTemplate.Message.user("a"), ChatTemplate.Message.user("b")), true));
    }

    @Test
    void namedTemplateListAndJinjaFile() throws IOException {
        ObjectNode cfg = TestTokenizers.JSON.createObjectNode();
        cfg.put("bos_token", "<s>").put("eos_token", "</s>");
        cfg.putArray("chat_template").addObject().put("name", "tool_use").put("template", "{{ nonsense }}");
        ((com.fasterxml.jackson.databind.node.ArrayNode) cfg.get("chat_template")).addObject()
                .put("name", "default").put("template", LLAMA2);
        Path p = dir.resolve("tokenizer_config.json");
        Files.writeString(p, cfg.toString());
        assertEquals(ChatTemplate.Format.LLAMA2, ChatTemplate.load(p).format());

        cfg.remove("chat_template");
        Files.writeString(p, cfg.toString());
        Files.writeString(dir.resolve("chat_template.jinja"), MISTRAL);
        assertEquals(ChatTemplate.Format.MISTRAL, ChatTemplate.load(p).format());
    }

    @Test
    void renderedPromptEncodesSpecialTokensAsTheirIds() {
        Tokenizer tok = Tokenizer.fromJson(TestTokenizers.sentencePiece(TestTokenizers.SpStyle.LEGACY, 100, false), "sp");
        ChatTemplate t = new ChatTemplate(ChatTemplate.Format.MISTRAL, "<s>", "</s>", null);
        int[] ids = tok.encode(t.render(CONVERSATION, true), false);
        assertEquals(1, ids[0]);
        int eos = java.util.Arrays.stream(ids).boxed().toList().indexOf(2);
        assertTrue(eos > 0, "</s> became token 2");
        assertArrayEquals(new int[] {1}, java.util.Arrays.copyOf(tok.encode("", true), 1));
    }
}

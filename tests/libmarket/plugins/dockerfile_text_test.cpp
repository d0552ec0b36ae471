// The quoting primitives and value rules that everything else relies on.
#include "plugins/dockerfile_text.hpp"

#include <catch2/catch.hpp>

#include "plugins/value_checks.hpp"

using namespace market;
using namespace market::dockerfile;
using market::plugins::TextProblem;

TEST_CASE("QuoteLiteral escapes backslash, double quote and dollar only") {
  CHECK(QuoteLiteral("") == R"("")");
  CHECK(QuoteLiteral("plain") == R"("plain")");
  CHECK(QuoteLiteral(R"(a"b)") == R"("a\"b")");
  CHECK(QuoteLiteral(R"(a\b)") == R"("a\\b")");
  CHECK(QuoteLiteral("$HOME") == R"("\$HOME")");
  CHECK(QuoteLiteral(R"(ends\)") == R"("ends\\")");
  CHECK(QuoteLiteral("it's `x` 中文") == "\"it's `x` 中文\"");
}

TEST_CASE("QuoteIfNeeded leaves plain paths bare and quotes the rest") {
  CHECK(QuoteIfNeeded("/app/bin") == "/app/bin");
  CHECK(QuoteIfNeeded("/opt/my app") == R"("/opt/my app")");
  CHECK(QuoteIfNeeded("/a'b") == R"("/a'b")");
  CHECK(QuoteIfNeeded("") == R"("")");
}

TEST_CASE("ExecForm is a JSON array with control characters escaped") {
  CHECK(ExecForm({"/bin/sh", "-c", "echo \"hi\""}) == R"(["/bin/sh", "-c", "echo \"hi\""])");
  CHECK(ExecForm({"a\nb", "\\"}) == R"(["a\nb", "\\"])");
  CHECK(ExecForm({"\u2028"}) == "[\"\u2028\"]");
  CHECK(ExecForm({}) == "[]");
}

TEST_CASE("SplitShellWords splits like a shell, quotes respected, no expansion") {
  using V = std::vector<std::string>;
  CHECK(SplitShellWords("java -jar app.jar").value() == V{"java", "-jar", "app.jar"});
  CHECK(SplitShellWords("  a   b\t c ").value() == V{"a", "b", "c"});
  CHECK(SplitShellWords(R"(sh -c 'echo "$HOME" done')").value() ==
        V{"sh", "-c", R"(echo "$HOME" done)"});
  CHECK(SplitShellWords(R"("a b" c\ d "e\"f" "g\h" 'i\j')").value() ==
        V{"a b", "c d", "e\"f", "g\\h", "i\\j"});
  CHECK(SplitShellWords(R"(x""y '' "")").value() == V{"xy", "", ""});
  CHECK(SplitShellWords("$HOME/bin").value() == V{"$HOME/bin"});
}

TEST_CASE("SplitShellWords rejects unbalanced quotes, a lone backslash and nothing") {
  for (const char* bad : {"echo 'oops", "echo \"oops", "echo \"a\\\"", "tail\\", "", "   "}) {
    INFO(bad);
    auto r = SplitShellWords(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::kInvalid);
  }
  CHECK_THAT(SplitShellWords("a 'b").error().message, Catch::Contains("single quote"));
  CHECK_THAT(SplitShellWords("a \"b").error().message, Catch::Contains("double quote"));
}

TEST_CASE("EndsWithLineContinuation sees a backslash before trailing blanks") {
  CHECK(EndsWithLineContinuation("make \\"));
  CHECK(EndsWithLineContinuation("make \\ \t "));
  CHECK(EndsWithLineContinuation("\\"));
  CHECK_FALSE(EndsWithLineContinuation("make"));
  CHECK_FALSE(EndsWithLineContinuation("echo \\n done"));
  CHECK_FALSE(EndsWithLineContinuation(""));
}

TEST_CASE("HasHeredocMarker finds here-documents but not here-strings or shifts") {
  CHECK(HasHeredocMarker("cat <<EOF"));
  CHECK(HasHeredocMarker("cat <<-EOF > x"));
  CHECK(HasHeredocMarker("cat << 'EOF'"));
  CHECK(HasHeredocMarker("cat <<\"END\""));
  CHECK(HasHeredocMarker("python3 2<<_X"));
  CHECK_FALSE(HasHeredocMarker("cat <<< hello"));
  CHECK_FALSE(HasHeredocMarker("echo $((1<<2))"));
  CHECK_FALSE(HasHeredocMarker("echo a < b"));
}

TEST_CASE("TextProblem: control characters and bad UTF-8 out, Unicode text in") {
  CHECK_FALSE(TextProblem("plain text", false));
  CHECK_FALSE(TextProblem("中文 \u2028 \u2029 émoji 😀", false));
  CHECK(TextProblem("a\nb", false));
  CHECK(TextProblem("a\rb", false));
  CHECK(TextProblem(std::string("a\0b", 3), false));
  CHECK(TextProblem("a\tb", false));
  CHECK(TextProblem("a\x1b[31m", false));
  CHECK(TextProblem("a\x7f", false));
  CHECK(TextProblem("a\u0085b", false));  // NEL, a C1 control
  CHECK(TextProblem("\xff", false));
  CHECK(TextProblem("\xc0\xaf", false));      // overlong '/'
  CHECK(TextProblem("\xed\xa0\x80", false));  // a UTF-16 surrogate
  CHECK(TextProblem("\xe4\xb8", false));      // truncated
  CHECK_FALSE(TextProblem("line 1\r\nline 2\n\tindented", true));
  CHECK(TextProblem(std::string("a\0b", 3), true));
  CHECK(TextProblem("a\x1b", true));
  CHECK_THAT(*TextProblem("ab\n", false), Catch::Contains("U+000A") && Catch::Contains("offset 2"));
}

TEST_CASE("ImageReferenceProblem follows the distribution grammar") {
  using market::plugins::ImageReferenceProblem;
  for (const char* good :
       {"busybox", "busybox:1", "library/busybox:1.36", "127.0.0.1:5000/base/busybox:1",
        "harbor.example.com/base/centos:7", "localhost/a_b/c-d:v1.0-rc_1", "scratch",
        "ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a/b:c@sha256:0123456789abcdef0123456789abcdef"}) {
    INFO(good);
    CHECK_FALSE(ImageReferenceProblem(good));
  }
  for (const char* bad : {"", "Busybox", "busybox:", "busybox::1", "busybox AS x", "busybox\nRUN x",
                          "busybox:1 \\", "-busybox", "$IMAGE", "a//b", "busybox:tag with space",
                          "busybox@sha256:xyz", "/busybox", "busybox/"}) {
    INFO(bad);
    CHECK(ImageReferenceProblem(bad));
  }
}

TEST_CASE("SourceUrlProblem allows the usual transports only") {
  using market::plugins::SourceUrlProblem;
  CHECK_FALSE(SourceUrlProblem("git", "https://git.example.com/team/app.git"));
  CHECK_FALSE(SourceUrlProblem("git", "ssh://git@git.example.com:2222/team/app.git"));
  CHECK_FALSE(SourceUrlProblem("git", "git@git.example.com:team/app.git"));
  CHECK_FALSE(SourceUrlProblem("git", "https://bob@git.example.com/app.git"));
  CHECK_FALSE(SourceUrlProblem("svn", "svn://svn.example.com/repo/trunk"));
  CHECK_FALSE(SourceUrlProblem("svn", "svn+ssh://svn.example.com/repo"));
  CHECK(SourceUrlProblem("git", "--upload-pack=touch /tmp/x"));
  CHECK(SourceUrlProblem("git", "-uhttps://x"));
  CHECK(SourceUrlProblem("git", "ext::sh -c touch% /tmp/pwned"));
  CHECK(SourceUrlProblem("git", "ext::sh"));
  CHECK(SourceUrlProblem("git", "file:///etc"));
  CHECK(SourceUrlProblem("git", "/etc/passwd"));
  CHECK(SourceUrlProblem("git", "svn://svn.example.com/repo"));
  CHECK(SourceUrlProblem("svn", "git://example.com/x"));
  CHECK(SourceUrlProblem("git", "https:///nohost"));
  // Read as RFC 3986 reads them: the scheme's case does not matter, a host or port another
  // tool could read differently is refused.
  CHECK_FALSE(SourceUrlProblem("git", "HTTPS://Git.Example.com/team/app.git"));
  CHECK_THAT(*SourceUrlProblem("git", "http://git.example.com:8o/app.git"),
             Catch::Contains("port"));
  CHECK_THAT(*SourceUrlProblem("git", "http://git.example.com:70000/app.git"),
             Catch::Contains("port"));
  CHECK_THAT(*SourceUrlProblem("git", "http://%6cocalhost/app.git"),
             Catch::Contains("percent-encoded host"));
  CHECK(SourceUrlProblem("git", "http://git.example.com\\@evil/app.git"));
  CHECK_THAT(*SourceUrlProblem("git", "https://bob:hunter2@git.example.com/app.git"),
             Catch::Contains("password attribute"));
}

TEST_CASE("Ports, durations, retries, paths and names") {
  using namespace market::plugins;
  CHECK_FALSE(PortProblem("80"));
  CHECK_FALSE(PortProblem("65535/udp"));
  CHECK_FALSE(PortProblem("8080/tcp"));
  for (const char* bad : {"0", "65536", "080", "80/sctp", "80/", "-1", "80 81", "http", ""}) {
    INFO(bad);
    CHECK(PortProblem(bad));
  }
  CHECK_FALSE(DurationProblem("30s"));
  CHECK_FALSE(DurationProblem("1m30s"));
  CHECK_FALSE(DurationProblem("500ms"));
  CHECK(DurationProblem("30"));
  CHECK(DurationProblem("30 s"));
  CHECK(DurationProblem("-1s"));
  CHECK(DurationProblem("1d"));
  CHECK_FALSE(RetriesProblem("3"));
  CHECK_FALSE(RetriesProblem("100"));
  CHECK(RetriesProblem("0"));
  CHECK(RetriesProblem("101"));
  CHECK(RetriesProblem("03"));
  CHECK_FALSE(ContextPathProblem("target/app.jar"));
  CHECK_FALSE(ContextPathProblem("."));
  CHECK_FALSE(ContextPathProblem("conf/*.yml"));
  CHECK_FALSE(ContextPathProblem("a..b/c"));
  CHECK(ContextPathProblem("../etc/passwd"));
  CHECK(ContextPathProblem("a/../../etc"));
  CHECK(ContextPathProblem("a/.."));
  CHECK(ContextPathProblem("/etc/passwd"));
  CHECK(ContextPathProblem("$HOME"));
  CHECK(ContextPathProblem("a\\b"));
  CHECK(ContextPathProblem(""));
  CHECK_FALSE(VariableNameProblem("JAVA_HOME"));
  CHECK_FALSE(VariableNameProblem("_x1"));
  CHECK(VariableNameProblem("1X"));
  CHECK(VariableNameProblem("A=1 B"));
  CHECK(VariableNameProblem("A B"));
  CHECK(VariableNameProblem("A-B"));
  CHECK_FALSE(LabelKeyProblem("org.opencontainers.image.title"));
  CHECK_FALSE(LabelKeyProblem("a"));
  CHECK(LabelKeyProblem("a\"b"));
  CHECK(LabelKeyProblem("a=b"));
  CHECK(LabelKeyProblem("a b"));
  CHECK(LabelKeyProblem(".a"));
  CHECK_FALSE(UserSpecProblem("app"));
  CHECK_FALSE(UserSpecProblem("1000:1000"));
  CHECK(UserSpecProblem("root\nRUN id"));
  CHECK(UserSpecProblem("a b"));
  CHECK(UserSpecProblem("$USER"));
  CHECK(UserSpecProblem("-u"));
  CHECK_FALSE(SourceRefProblem("release/1.2"));
  CHECK_FALSE(SourceRefProblem("HEAD~1"));
  CHECK_FALSE(SourceRefProblem("0a1b2c3d"));
  CHECK(SourceRefProblem("--upload-pack=x"));
  CHECK(SourceRefProblem("a..b"));
  CHECK(SourceRefProblem("a b"));
}

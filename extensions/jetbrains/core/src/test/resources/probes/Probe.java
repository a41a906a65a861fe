// A Java program standing in for a user's service: prints the target's DEMO_GREETING, the first
// line of a file only the target has and the answer of a service only the target reaches.
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class Probe {
    public static void main(String[] args) throws Exception {
        System.out.println("env=" + System.getenv("DEMO_GREETING"));
        String file;
        try {
            file = Files.readString(Path.of(args[0])).trim().split("\n")[0];
        } catch (Exception e) {
            file = "error: " + e;
        }
        System.out.println("file=" + file);
        String answer;
        try (InputStream in = new URL(args[1]).openStream()) {
            answer = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        } catch (Exception e) {
            answer = "error: " + e;
        }
        System.out.println("http=" + answer);
    }
}

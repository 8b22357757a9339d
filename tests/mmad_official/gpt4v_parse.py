# Copied VERBATIM (function bodies unchanged) from the official MMAD repository, for tests only.
#   repository: https://github.com/jam-cc/MMAD
#   commit:     bad03b44c30fdb4d0e1774e07e0f245fbaae3b6c
#   path:       evaluation/examples/GPT4/gpt4v.py
# Licence: the repository carries no LICENSE file at this commit (checked with
#   git ls-tree -r bad03b44c30fdb4d0e1774e07e0f245fbaae3b6c); its README asks users to cite the MMAD paper (Jiang et al., ICLR 2025).
#   Copyright remains with the MMAD authors. This copy is used only by adlab's tests to
#   cross-check adlab's re-implementation; adlab's package code never imports it.
# Only GPT4Query.parse_answer is copied (the base class the LLaVA, Cambrian, Qwen, InternVL and
# MiniCPM scripts inherit it from; gpt4o.py and gemini_query.py carry the same method).
import re
from difflib import get_close_matches


class GPT4Query():
    def parse_answer(self, response_text, options=None):
        # pattern = re.compile(r'\bAnswer:\s*([A-Za-z])[^A-Za-z]*')
        # pattern = re.compile(r'(?:Answer:\s*[^A-D]*)?([A-D])[^\w]*')
        pattern = re.compile(r'\b([A-E])\b')
        # Extract answers using regular expressions
        answers = pattern.findall(response_text)

        if len(answers) == 0 and options is not None:
            print(f"Failed to extract answer from response: {response_text}")
            # Use fuzzy matching on options dictionary to get the answer
            options_values = list(options.values())
            # Use difflib.get_close_matches to find the closest match
            closest_matches = get_close_matches(response_text, options_values, n=1, cutoff=0.0)
            if closest_matches:
                # If there's a match, find the corresponding key
                closest_match = closest_matches[0]
                for key, value in options.items():
                    if value == closest_match:
                        answers.append(key)
                        break
        return answers


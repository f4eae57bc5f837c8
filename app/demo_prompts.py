"""The demo prompt set's prompts: varied, everyday requests a small chat model can attempt.

Written for Ranklab (no third-party data). Mixed on purpose: advice, coding, facts,
writing, and one multi-turn conversation, so rankers see the range they will meet.
"""

from __future__ import annotations

from typing import Any

DEMO_SET_NAME = "Demo: everyday questions"
DEMO_DESCRIPTION = "Twenty everyday requests to try ranking on, answered by the bundled SmolLM2."
DEMO_GUIDELINES = """\
Rank the answers from **best** to **worst** for the person who asked.

- Prefer answers that are correct, directly useful and clearly written.
- A short right answer beats a long wrong one.
- Put answers that are equally good in the same group (a tie).
- Flag anything unsafe, broken (cut off, gibberish) or factually wrong.
"""
DEMO_SYSTEM_PROMPT = "You are a helpful, honest assistant. Answer clearly and concisely."
DEMO_GENERATION = {
    "backend": "transformers",
    "temperature": [0.7, 0.9, 1.0, 0.8],
    "top_p": 0.95,
    "max_new_tokens": 160,
}

DEMO_PROMPTS: list[dict[str, Any]] = [
    {
        "id": "advice-sleep",
        "category": "advice",
        "text": "I keep waking up at 4am and can't fall back asleep. What can I try?",
    },
    {
        "id": "advice-interview",
        "category": "advice",
        "text": "I have my first job interview tomorrow for a junior accountant role. "
        "How should I prepare tonight?",
    },
    {
        "id": "advice-budget",
        "category": "advice",
        "text": "Give me a simple way to start a monthly budget. I have never tracked my spending.",
    },
    {
        "id": "advice-plants",
        "category": "advice",
        "text": "The leaves on my basil plant are turning yellow. What am I doing wrong?",
    },
    {
        "id": "code-reverse",
        "category": "coding",
        "text": "Write a Python function that reverses the words in a sentence, "
        "keeping the punctuation at the end.",
    },
    {
        "id": "code-sql",
        "category": "coding",
        "text": "What is the difference between INNER JOIN and LEFT JOIN in SQL? "
        "Show a tiny example.",
    },
    {
        "id": "code-git",
        "category": "coding",
        "text": "How do I undo my last git commit but keep the changes in my working tree?",
    },
    {
        "id": "code-bug",
        "category": "coding",
        "text": "Why does this print 3 three times instead of 0, 1, 2?\n\n"
        "```js\nfor (var i = 0; i < 3; i++) {\n  setTimeout(() => console.log(i), 0);\n}\n```",
    },
    {"id": "fact-seasons", "category": "facts", "text": "Why do we have seasons on Earth?"},
    {"id": "fact-bread", "category": "facts", "text": "What makes bread rise?"},
    {
        "id": "fact-moon",
        "category": "facts",
        "text": "How far away is the Moon, and how long does its light take to reach us?",
    },
    {
        "id": "fact-vaccines",
        "category": "facts",
        "text": "In two or three sentences, how does a vaccine train the immune system?",
    },
    {
        "id": "write-email",
        "category": "writing",
        "text": "Write a short, polite email to my landlord asking when the broken heater "
        "will be repaired.",
    },
    {
        "id": "write-haiku",
        "category": "writing",
        "text": "Write a haiku about the first cup of coffee in the morning.",
    },
    {
        "id": "write-summary",
        "category": "writing",
        "text": "Summarise in one sentence: The city council voted on Tuesday to extend the "
        "opening hours of all public libraries until 9pm on weekdays, starting next "
        "month, after a survey showed that most residents could only visit after work.",
    },
    {
        "id": "write-toast",
        "category": "writing",
        "text": "Help me write a two-sentence toast for my sister's wedding. She loves hiking.",
    },
    {
        "id": "reason-trains",
        "category": "reasoning",
        "text": "A train leaves at 9:40 and the trip takes 2 hours 35 minutes. "
        "When does it arrive?",
    },
    {
        "id": "reason-recipe",
        "category": "reasoning",
        "text": "A recipe for 4 people needs 300 g of rice. How much do I need for 6 people?",
    },
    {
        "id": "explain-kid",
        "category": "explaining",
        "text": "Explain to a seven-year-old why the sky is blue.",
    },
    {
        "id": "chat-trip",
        "category": "multi-turn",
        "messages": [
            {"role": "user", "content": "I'm planning a weekend trip to Lisbon in March."},
            {
                "role": "assistant",
                "content": "Lovely choice! March is mild in Lisbon, usually around 15-18°C. "
                "What kind of things do you enjoy doing when you travel?",
            },
            {
                "role": "user",
                "content": "Mostly food and walking around old neighbourhoods. "
                "What should I not miss?",
            },
        ],
    },
]
